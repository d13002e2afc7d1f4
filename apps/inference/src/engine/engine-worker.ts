// One inference worker: owns a ChatterboxModel (sessions created once, here) and runs one synthesis at a time,
// so ORT's blocking run() never stalls the server's event loop.
import { parentPort, workerData } from "node:worker_threads";

import { ChatterboxModel } from "./model";
import { resolveGeneration } from "./requests";
import type { FromWorker, ToWorker, WorkerConfig } from "./worker-protocol";

class Cancelled extends Error {}

const port = parentPort!;
const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
const config = workerData as WorkerConfig;

try {
  const model = await ChatterboxModel.load(config.modelDir, {
    ...config,
    log: (message) => console.warn(message),
  });
  port.on("message", (message: ToWorker) => {
    const cancel = new Int32Array(message.cancel);
    const options = resolveGeneration(model.variant, message.settings, message.seed);
    model
      .synthesize(message.text, message.voice, options, {
        onToken: (generated) => {
          if (Atomics.load(cancel, 0) !== 0) throw new Cancelled("cancelled");
          post({ type: "token", id: message.id, generated });
        },
      })
      .then((result) =>
        post({ type: "result", id: message.id, result, encoderRuns: model.encoderRuns }, [
          result.waveform.buffer as ArrayBuffer,
        ]),
      )
      .catch((error: unknown) =>
        post({
          type: "error",
          id: message.id,
          message: error instanceof Error ? error.message : String(error),
          cancelled: error instanceof Cancelled,
        }),
      );
  });
  post({ type: "ready", info: { variant: model.variant, provider: model.provider, kv: model.kv } });
} catch (error) {
  post({ type: "load-error", message: error instanceof Error ? error.message : String(error) });
}
