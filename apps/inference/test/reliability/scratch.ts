import { startTestNode } from "../support/node";
import { createLogger } from "../../src/logger";
import { Http, trpcQuery } from "./support";
const t = await startTestNode({}, { variant: "turbo", stopAfter: 12 }, createLogger("warn"));
const http = new Http(t.url);
for (const path of ["/healthz", "/trpc/health", trpcQuery("tts.list", { limit: 50 }), "/trpc/voices.list", trpcQuery("tts.get", { id: "tts_doesnotexist" }), trpcQuery("tts.get", { id: 5 })]) {
  for (let i = 0; i < 100; i++) await http.get(path);
  const s = performance.now();
  await Promise.all(Array.from({ length: 6 }, async () => { for (let i = 0; i < 200; i++) await http.get(path); }));
  console.log(path.slice(0, 40), ((performance.now() - s) / 1200).toFixed(3), "ms/req");
}
await http.close(); await t.stop();
