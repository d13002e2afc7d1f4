// @ts-check
import { createServer } from "node:net";

/**
 * A TCP port free on 127.0.0.1 right now, for servers a test starts in another process (which cannot report an
 * ephemeral port back as easily as an in-process server).
 * @returns {Promise<number>}
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}
