/** The millisecond in a UUIDv7's first 48 bits (RFC 9562), for tests of when an id says it was made. */
export const idMillisecond = (id: string) => Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
