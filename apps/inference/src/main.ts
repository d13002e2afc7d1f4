import { createApiContext } from "./context";
import { EnvError, loadEnv } from "./env";
import { createInferenceServer, listen } from "./http/server";
import { createLogger } from "./logger";

async function main(): Promise<void> {
  let env;
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
  const context = createApiContext();
  const server = createInferenceServer({ context, corsOrigins: env.CORS_ORIGINS, logger });
  const port = await listen(server, env.PORT, env.HOST);
  logger.info({ port, host: env.HOST, backends: context.onnxRuntime.backends() }, "inference node listening");

  const stop = (signal: string) => {
    logger.info({ signal }, "shutting down");
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
