/** Where the core reports progress; the glue maps it onto task-lib, tests onto arrays. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}
