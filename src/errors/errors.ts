/**
 * Error codes used across quant. Every failure a user can cause maps to one of these.
 * Codes are stable: scripts may match on them.
 */
export type ErrorCode =
  // loading models
  | "E_LOAD_MISSING"
  | "E_LOAD_EMPTY"
  | "E_LOAD_READ"
  | "E_LOAD_PARSE"
  | "E_LOAD_NOT_MODEL"
  | "E_LOAD_EXTERNAL_MISSING"
  | "E_LOAD_EXTERNAL_RANGE"
  | "E_LOAD_EXTERNAL_PATH"
  | "E_LOAD_NOT_FILE"
  | "E_LOAD_DUPLICATE_NAME"
  | "E_LOAD_CYCLE"
  | "E_LOAD_TENSOR"
  // writing
  | "E_SAVE"
  | "E_OUTPUT_DIR"
  | "E_OUTPUT_IS_INPUT"
  | "E_EXPORT_INVALID"
  | "E_TIMEOUT"
  // graph / ops
  | "E_UNSUPPORTED_OP"
  | "E_OPSET"
  | "E_GRAPH"
  // quantization
  | "E_QUANT_NONFINITE"
  | "E_QUANT_OPTIONS"
  | "E_QUANT_ALREADY"
  | "E_NOTHING_QUANTIZED"
  // calibration and data
  | "E_CALIB_SHAPE"
  | "E_CALIB_DTYPE"
  | "E_CALIB_NONFINITE"
  | "E_CALIB_SAMPLES"
  | "E_CALIB_STATS"
  | "E_DATA_READ"
  | "E_DATA_FORMAT"
  | "E_DATA_REQUIRED"
  // runtime
  | "E_RUNTIME"
  // kernel / config / plugins
  | "E_CONFIG"
  | "E_CONFIG_PARSE"
  | "E_PLUGIN_UNKNOWN"
  | "E_PLUGIN"
  | "E_VALIDATE"
  | "E_USAGE";

/** Where an error happened, when it happened inside the plugin chain. */
export interface ErrorSite {
  /** Plugin name, e.g. `percentile`. */
  plugin?: string;
  /** Pipeline phase, e.g. `calibrate`. */
  phase?: string;
  /** Tensor or node the plugin was working on. */
  target?: string;
  /** File the error is about (model, data, config). */
  file?: string;
}

/**
 * The one error class of quant. `message` is a single line a user can act on;
 * `code` is stable; `cause` keeps the original error for `--debug`.
 */
export class QuantError extends Error {
  readonly code: ErrorCode;
  readonly site: ErrorSite;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown } & ErrorSite = {}) {
    const { cause, ...site } = options;
    super(message.replace(/\s*\n\s*/g, " "), cause === undefined ? undefined : { cause });
    this.name = "QuantError";
    this.code = code;
    this.site = site;
  }

  /** One line for the terminal: `E_CODE file: message`. */
  toLine(): string {
    const where = [this.site.file, this.site.plugin && `[${this.site.phase ?? "?"}:${this.site.plugin}]`, this.site.target && `(${this.site.target})`]
      .filter(Boolean)
      .join(" ");
    return `${this.code}${where ? ` ${where}` : ""}: ${this.message}`;
  }
}

/** True when `e` is a QuantError (also across module copies). */
export function isQuantError(e: unknown): e is QuantError {
  return e instanceof QuantError || (typeof e === "object" && e !== null && (e as { name?: string }).name === "QuantError" && "code" in e);
}

/** Short text of any thrown value, for wrapping into a QuantError. */
export function reason(e: unknown): string {
  if (e instanceof Error) return e.message.split("\n")[0] ?? String(e);
  return String(e);
}
