/** At most `limit` tasks run at once; the rest wait in arrival order. */
export class Semaphore {
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      // Hand the slot straight to the next waiter, so a newcomer cannot jump the queue.
      if (next) next();
      else this.#active--;
    }
  }

  get queued(): number {
    return this.#waiting.length;
  }
}
