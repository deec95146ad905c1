/** The minimal baseline's one activity: returns its input, like demo.echo. */
export async function echo(input: unknown): Promise<unknown> {
  return input;
}
