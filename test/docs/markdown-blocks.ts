/**
 * Reads the runnable walkthrough out of a Markdown guide. Conventions the guides follow:
 * - a ```sh block is a step, run in order in one shell session;
 * - a ```sh no-run block is shown but not run (installing and starting the service);
 * - a ```json block right after a step (before the next step) is that step's output.
 */
export interface Step {
  /** 1-based position among the runnable steps. */
  index: number;
  script: string;
  /** The output the guide shows, when it shows one. */
  expected?: string;
}

export interface Walkthrough {
  steps: Step[];
  /** The blocks marked no-run, in order. */
  notRun: string[];
}

const FENCE = /^```([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm;

export function readWalkthrough(markdown: string): Walkthrough {
  const steps: Step[] = [];
  const notRun: string[] = [];
  let last: Step | undefined;
  for (const match of markdown.matchAll(FENCE)) {
    const [language = '', ...attributes] = (match[1] ?? '').trim().split(/\s+/);
    const body = match[2] ?? '';
    if (language === 'sh' && attributes.includes('no-run')) {
      notRun.push(body);
      last = undefined;
    } else if (language === 'sh') {
      last = { index: steps.length + 1, script: body };
      steps.push(last);
    } else if (language === 'json' && last && last.expected === undefined) {
      last.expected = body;
    }
  }
  return { steps, notRun };
}

/** `export NAME=value` lines of the no-run blocks: the settings the guide starts the service with. */
export function exportedSettings(blocks: string[]): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const block of blocks) {
    for (const match of block.matchAll(/^export ([A-Z][A-Z0-9_]*)=(.*)$/gm)) {
      settings[match[1] as string] = (match[2] as string).trim().replace(/^'(.*)'$|^"(.*)"$/, '$1$2');
    }
  }
  return settings;
}

/**
 * The shape of a JSON value: object keys and value types, all the way down, with an array
 * described by its first element. Ids, tokens and times differ between runs; shapes do not.
 */
export function shapeOf(value: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? [] : [shapeOf(value[0])];
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((key) => [key, shapeOf((value as Record<string, unknown>)[key])]),
    );
  }
  return typeof value;
}
