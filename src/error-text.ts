/**
 * The first line of what a caught value says, for a one-line warning or
 * diagnostic. Never throws: what reaches a catch can be anything, including
 * an object without a prototype (no toString) or an Error whose message
 * getter throws, and a warning must not become a second failure.
 */
export function firstLineOf(error: unknown): string {
  try {
    const message: unknown = error instanceof Error ? error.message : error;
    return String(message).split('\n')[0]!;
  } catch {
    return 'a thrown value that cannot be shown as text';
  }
}
