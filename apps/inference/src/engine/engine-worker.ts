// One inference worker: owns a ChatterboxModel (sessions created once, here) and runs one synthesis at a time,
// so ORT's blocking run() never stalls the server's event loop.
import { parentPort, workerData } from "node:worker_threads";

import { ChatterboxModel } from "./model";
import { CRASH_NOW, type FromWorker, type ToWorker, type WorkerConfig } from "./worker-protocol";

class Cancelled extends Error {}

const port = parentPort!;
const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
const config = workerData as WorkerConfig;

try {
  const model = await ChatterboxModel.load(config.modelDir, {
    ...config,
    log: (message) => console.warn(message),
  });
  const control = new Int32Array(config.control);
  port.on("message", (message: ToWorker) => {
    if (message.type === "exit") {
      void model.release().finally(() => process.exit(0));
      return;
    }
    // Fault-test hook: no cleanup, no answer, as a real crash.
    if (message.type === "crash") process.exit(1);
    const cancel = new Int32Array(message.cancel);
    model
      .synthesize(message.text, message.voice, message.options, {
        onToken: (generated) => {
          // Here no session is running, so ending the thread cannot abort the process.
          if (Atomics.load(control, 0) === CRASH_NOW) process.exit(1);
          if (Atomics.load(cancel, 0) !== 0) throw new Cancelled("cancelled");
          post({ type: "token", id: message.id, generated });
        },
        onAudio: (samples) =>
          post({ type: "audio", id: message.id, samples }, [samples.buffer as ArrayBuffer]),
      })
      .then((result) => post({ type: "result", id: message.id, result, encoderRuns: model.encoderRuns }))
      .catch((error: unknown) =>
        post({
          type: "error",
          id: message.id,
          message: error instanceof Error ? error.message : String(error),
          cancelled: error instanceof Cancelled,
        }),
      );
  });
  post({
    type: "ready",
    info: {
      variant: model.variant,
      provider: model.provider,
      kv: model.kv,
      guidance: model.guidance,
      ...(model.guidanceProblem && { guidanceProblem: model.guidanceProblem }),
    },
  });
} catch (error) {
  post({ type: "load-error", message: error instanceof Error ? error.message : String(error) });
}
