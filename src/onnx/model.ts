/**
 * The in-memory model: the decoded ModelProto (the source of truth, so nothing is ever lost) plus where it came from,
 * which the external-data reader needs to resolve tensor locations lazily.
 */
import type { ModelProto } from "./types.ts";
import type { ExternalFiles } from "./external.ts";

/** A loaded ONNX model. Mutate `proto` through the graph helpers; `baseDir` anchors external data locations. */
export interface Model {
  /** The decoded ModelProto. Weight bytes are views into `source` (or read lazily from external data files). */
  proto: ModelProto;
  /** Absolute path of the .onnx file when loaded from disk. */
  readonly path?: string;
  /** Folder external data `location`s are relative to (the model's folder). */
  readonly baseDir?: string;
  /** The bytes the proto was decoded from (kept alive because weights are views into it). */
  readonly source?: Uint8Array;
  /** Lazily opened external data files. */
  readonly external?: ExternalFiles;
}
