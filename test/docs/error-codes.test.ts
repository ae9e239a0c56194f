import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Every problem `code` the service can answer has a row in the table of codes in docs/api.md, and
 * every row is a code the service can answer. The codes are found in
 * the source the way the service makes them, so a new code without a line in the doc fails here:
 * - the first argument of `new UnauthenticatedError/ForbiddenError/ConflictError(...)`,
 * - the third argument of `new ValidationError(...)`,
 * - `super('code', ...)` and `code = '...'` defaults in the error classes,
 * - the second argument of `problem(status, 'code', ...)`,
 * - `code: '...'` properties (the framework and generic tables of platform/http/errors.ts).
 * A code built from a template (`${purpose}.invalid`) must match at least one documented code.
 */
const CODE_FIRST = new Set(['UnauthenticatedError', 'ForbiddenError', 'ConflictError']);
const CODE_THIRD = new Set(['ValidationError']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    const isSource = entry.name.endsWith('.ts') && !/\.test\.ts$|\.test-helpers\.ts$/.test(entry.name);
    return isSource ? [path] : [];
  });
}

interface Found {
  literal: Set<string>;
  /** Template-built codes, as regular expressions over a whole code. */
  patterns: Map<string, RegExp>;
}

function collect(found: Found, node: ts.Expression | undefined): void {
  if (!node) return;
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
    found.literal.add(node.text);
  } else if (ts.isTemplateExpression(node)) {
    const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const source =
      escapeRegExp(node.head.text) +
      node.templateSpans.map((s) => `[a-z_]+${escapeRegExp(s.literal.text)}`).join('');
    found.patterns.set(node.getText(), new RegExp(`^${source}$`));
  }
}

function problemCodesInSource(): Found {
  const found: Found = { literal: new Set(), patterns: new Map() };
  for (const file of sourceFiles('src')) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isNewExpression(node) && ts.isIdentifier(node.expression)) {
        const name = node.expression.text;
        if (CODE_FIRST.has(name)) collect(found, node.arguments?.[0]);
        if (CODE_THIRD.has(name)) collect(found, node.arguments?.[2]);
      }
      if (ts.isCallExpression(node)) {
        const callee = node.expression;
        if (callee.kind === ts.SyntaxKind.SuperKeyword && file.endsWith(join('domain', 'errors.ts'))) {
          collect(found, node.arguments[0]);
        }
        if (ts.isIdentifier(callee) && callee.text === 'problem') collect(found, node.arguments[1]);
      }
      if (ts.isPropertyAssignment(node) && ts.isIdentifier(node.name) && node.name.text === 'code') {
        collect(found, node.initializer);
      }
      if (ts.isParameter(node) && ts.isIdentifier(node.name) && node.name.text === 'code') {
        collect(found, node.initializer);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

/** The codes of the doc's table of codes: rows `| 409 | \`last_owner\` | meaning |`. */
function documentedCodes(): Set<string> {
  const doc = readFileSync('docs/api.md', 'utf8');
  return new Set([...doc.matchAll(/^\|\s*[0-9x]{3}\s*\|\s*`([^`]+)`\s*\|/gm)].map((m) => m[1] as string));
}

describe('docs/api.md error codes', () => {
  const found = problemCodesInSource();
  const documented = documentedCodes();

  it('finds the codes the source uses (the scan itself works)', () => {
    for (const code of [
      'validation_failed',
      'not_found',
      'token_invalid',
      'last_owner',
      'payload_too_large',
    ]) {
      expect(found.literal).toContain(code);
    }
  });

  it('documents every problem code the source can answer', () => {
    const missing = [...found.literal].filter((code) => !documented.has(code)).sort();
    expect(missing).toEqual([]);
  });

  it('documents no code the source does not use', () => {
    const patterns = [...found.patterns.values()];
    const stale = [...documented].filter(
      (code) => !found.literal.has(code) && !patterns.some((pattern) => pattern.test(code)),
    );
    expect(stale).toEqual([]);
  });

  it('documents a code for every code built from a template', () => {
    const unmatched = [...found.patterns]
      .filter(([, pattern]) => ![...documented].some((code) => pattern.test(code)))
      .map(([text]) => text);
    expect(unmatched).toEqual([]);
  });
});
