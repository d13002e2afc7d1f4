import { EnvError, loadEnv, type InferenceEnv } from "./env";
import { checkExposure } from "./http/exposure";
import { createLogger } from "./logger";
import { modelSettingsFromEnv, type ModelSettings } from "./model-settings";
import { createInferenceNode, nodeSettingsFromEnv } from "./node";
import { startNodeTracing } from "./tracing";

export interface ServeOverrides {
  model?: Partial<ModelSettings>;
  port?: number;
  host?: string;
}

/** Runs the inference node until SIGTERM/SIGINT, then drains and exits 0. Used by `tts serve` and dist/main.js. */
export async function serve(overrides: ServeOverrides = {}): Promise<void> {
  let env: InferenceEnv;
  try {
    env = loadEnv();
  } catch (error) {
    if (error instanceof EnvError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(env.LOG_LEVEL);
  const tracing = await startNodeTracing(logger);
  const host = overrides.host ?? env.HOST;
  let exposure: { warning?: string };
  try {
    exposure = checkExposure({
      host,
      apiKeys: env.API_KEYS,
      sessionSecret: env.TTS_SESSION_SECRET,
      allowAnonymous: env.ALLOW_ANONYMOUS,
    });
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  if (exposure.warning) logger.warn(exposure.warning);
  // Last resort. Errors inside a request are caught where it is handled; one that escapes means the process is
  // in an unknown state, so log it and exit non-zero for the orchestrator to restart the node. A rejected promise
  // nobody awaited is logged and the node keeps serving.
  process.on("uncaughtException", (error) => {
    logger.fatal({ err: error }, "uncaught exception; exiting for a restart");
    process.exit(1);
  });
  process.on("unhandledRejection", (reason) => logger.error({ err: reason }, "unhandled rejection"));
  const model = { ...modelSettingsFromEnv(env), ...overrides.model };
  const node = await createInferenceNode(nodeSettingsFromEnv(env, model), logger);
  const port = await node.listen(overrides.port ?? env.PORT, host);
  logger.info(
    {
      port,
      host,
      model: { variant: model.variant, dtype: model.dtype, device: model.device },
      tracing: tracing.enabled,
    },
    "inference node listening",
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: draining jobs");
    node
      .shutdown()
      // Spans still batched (the last requests and jobs) are sent before the process goes.
      .then(() => tracing.shutdown())
      .then(() => {
        logger.info("stopped");
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      });
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
