import * as ort from "onnxruntime-node";

/**
 * Keeps float16 tensor data in Uint16Array, as the engine reads and writes it. Where the runtime has a built-in
 * Float16Array (Node 24), onnxruntime-common stores float16 data in it, and onnxruntime-node 1.30 then reads
 * every such input as 0 bytes ("not enough space: expected N, got 0"; microsoft/onnxruntime PR #32323). The
 * common package picks the array type once, when the first Tensor is built: build that one with Float16Array
 * hidden, then put the global back for everyone else. Call before any Tensor exists.
 */
export function keepFloat16InUint16(): void {
  const scope = globalThis as { Float16Array?: unknown };
  const builtIn = scope.Float16Array;
  delete scope.Float16Array;
  try {
    new ort.Tensor("float16", new Uint16Array(1), [1]);
  } finally {
    if (builtIn !== undefined) scope.Float16Array = builtIn;
  }
  if (!(new ort.Tensor("float16", new Uint16Array(1), [1]).data instanceof Uint16Array))
    throw new Error(
      "float16 tensors already use Float16Array: keepFloat16InUint16() ran after the first Tensor.",
    );
}
