/** The contract every `waypost` subcommand implements (one file per command in cli/commands/). */
export interface CommandContext {
  argv: string[]; // arguments after the command name
  cwd: string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  color: boolean; // stdout is a TTY and NO_COLOR is unset (or --color given)
  env: NodeJS.ProcessEnv;
}

export interface Command {
  name: string; // e.g. "check", or "log verify" for a two-word command
  summary: string; // one line for `waypost --help`
  usage: string; // full help text for `waypost <name> --help`
  /** Exit code: 0 ok, 1 the policies/decision failed the check, 2 usage or input error. */
  run(ctx: CommandContext): Promise<number>;
}

/** Thrown for a bad command line; main prints the message and the command usage, exit 2. */
export class UsageError extends Error {}

/**
 * Thrown for bad input that is not the command line (a file that is not JSON, a folder where
 * a file should be): main prints the message and the help, without the usage, exit 2.
 */
export class InputError extends Error {
  constructor(
    message: string,
    readonly help?: string,
  ) {
    super(message);
    this.name = "InputError";
  }
}
