import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

import { afterEach, describe, expect, it } from "vitest";

import { createTaskProtection, type TaskProtection } from "../src/services/task-protection";
import { settleJob, startTestNode } from "./support/node";

interface AgentRequest {
  method: string;
  url: string;
  contentType: string | undefined;
  body: unknown;
  at: number;
}

type Reply = { status: number; body: unknown } | "hang";

/**
 * A stand-in for the ECS agent's task protection endpoint on a real port: records each request and answers as the
 * agent does, or with whatever the test queues.
 */
async function startAgent() {
  const requests: AgentRequest[] = [];
  const replies: Reply[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let raw = "";
    req.on("data", (chunk: Buffer) => (raw += chunk.toString()));
    req.on("end", () => {
      const body = raw ? (JSON.parse(raw) as { ProtectionEnabled?: boolean }) : undefined;
      requests.push({
        method: req.method ?? "",
        url: req.url ?? "",
        contentType: req.headers["content-type"],
        body,
        at: Date.now(),
      });
      const reply = replies.shift() ?? {
        status: 200,
        body: {
          protection: {
            ExpirationDate: new Date(Date.now() + 60_000).toISOString(),
            ProtectionEnabled: body?.ProtectionEnabled ?? false,
            TaskArn: "arn:aws:ecs:us-east-1:123456789012:task/tts/abc",
          },
        },
      };
      if (reply === "hang") return;
      res.writeHead(reply.status, { "content-type": "application/json" }).end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://127.0.0.1:${port}/api/abc-123`,
    requests,
    replies,
    bodies: () => requests.map((request) => request.body),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function recordingLogger() {
  const lines: { level: string; obj: unknown; msg: string }[] = [];
  const log =
    (level: string) =>
    (obj: unknown, msg = "") =>
      void lines.push({ level, obj, msg: typeof obj === "string" ? obj : msg });
  return { lines, logger: { warn: log("warn"), info: log("info"), debug: log("debug") } };
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const ON = { ProtectionEnabled: true, ExpiresInMinutes: 1 };
const OFF = { ProtectionEnabled: false };

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function setup(options: Partial<Parameters<typeof createTaskProtection>[0]> = {}) {
  const agent = await startAgent();
  const { lines, logger } = recordingLogger();
  const protection: TaskProtection = createTaskProtection({
    agentUri: agent.uri,
    logger,
    expiresInMinutes: 1,
    idleGraceMs: 100,
    retryMs: 50,
    ...options,
  });
  cleanups.push(agent.close, () => protection.close());
  return { agent, lines, protection };
}

describe("ECS task scale-in protection", () => {
  it("protects the task when jobs start and clears it after the node stays idle", async () => {
    const { agent, protection, lines } = await setup();
    protection.activeJobsChanged(1);
    await until("the protect request", () => agent.requests.length === 1);
    expect(agent.requests[0]).toMatchObject({
      method: "PUT",
      url: "/api/abc-123/task-protection/v1/state",
      contentType: "application/json",
      body: ON,
    });
    protection.activeJobsChanged(0);
    const idleAt = Date.now();
    await until("the clear request", () => agent.requests.length === 2);
    expect(agent.requests[1]?.body).toEqual(OFF);
    // Not before the idle grace period.
    expect(agent.requests[1]!.at - idleAt).toBeGreaterThanOrEqual(90);
    // Each is logged once the agent's answer is back.
    await until("both log lines", () => lines.filter((line) => line.level === "info").length === 2);
    expect(lines.filter((line) => line.level === "info").map((line) => line.msg)).toEqual([
      "task scale-in protection on (jobs running)",
      "task scale-in protection off (idle)",
    ]);
  });

  it("sends nothing per job: more jobs, and a short idle gap between jobs, keep the one protection", async () => {
    const { agent, protection } = await setup({ idleGraceMs: 500 });
    protection.activeJobsChanged(1);
    protection.activeJobsChanged(2);
    protection.activeJobsChanged(3);
    await until("the protect request", () => agent.requests.length === 1);
    protection.activeJobsChanged(2);
    protection.activeJobsChanged(0);
    await sleep(50);
    protection.activeJobsChanged(1);
    protection.activeJobsChanged(0);
    await sleep(50);
    protection.activeJobsChanged(4);
    await sleep(300);
    expect(agent.bodies()).toEqual([ON]);
    protection.activeJobsChanged(0);
    await until("the clear request", () => agent.requests.length === 2);
    await sleep(200);
    expect(agent.bodies()).toEqual([ON, OFF]);
  });

  it("renews the protection before it lapses while jobs keep running, and stops renewing when idle", async () => {
    const { agent, protection } = await setup({ renewAfterMs: 100 });
    protection.activeJobsChanged(1);
    await sleep(350);
    const renewals = agent.requests.length;
    // The first request, then about one every 100 ms.
    expect(renewals).toBeGreaterThanOrEqual(2);
    expect(renewals).toBeLessThanOrEqual(5);
    expect(new Set(agent.requests.map((request) => JSON.stringify(request.body)))).toEqual(
      new Set([JSON.stringify(ON)]),
    );
    const gaps = agent.requests.slice(1).map((request, i) => request.at - agent.requests[i]!.at);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(90);
    protection.activeJobsChanged(0);
    await until("the clear request", () => JSON.stringify(agent.bodies().at(-1)) === JSON.stringify(OFF));
    const settled = agent.requests.length;
    await sleep(300);
    expect(agent.requests.length).toBe(settled);
    expect(agent.bodies().at(-1)).toEqual(OFF);
  });

  it("logs a refused or failed request, never throws, and retries with backoff until the agent agrees", async () => {
    const { agent, protection, lines } = await setup({ retryMs: 40 });
    agent.replies.push(
      {
        status: 400,
        body: { error: { Code: "InvalidParameterException", Message: "ExpiresInMinutes out of range" } },
      },
      {
        status: 200,
        body: { failure: { Arn: "arn:aws:ecs:task", Reason: "TASK_NOT_VALID", Detail: "not in a service" } },
      },
    );
    expect(() => protection.activeJobsChanged(1)).not.toThrow();
    await until("the third try", () => agent.requests.length === 3);
    const warnings = lines.filter((line) => line.level === "warn");
    expect(warnings).toHaveLength(2);
    expect(warnings[0]?.msg).toContain("could not set ECS task scale-in protection");
    expect(String((warnings[0]?.obj as { err: Error }).err.message)).toBe(
      "HTTP 400, InvalidParameterException: ExpiresInMinutes out of range",
    );
    expect(String((warnings[1]?.obj as { err: Error }).err.message)).toBe(
      "HTTP 200, TASK_NOT_VALID: not in a service",
    );
    expect((warnings[1]?.obj as { retryInMs: number }).retryInMs).toBe(80);
    // Backoff: the second retry waited about twice as long as the first.
    const [first, second, third] = agent.requests.map((request) => request.at);
    expect(second! - first!).toBeGreaterThanOrEqual(35);
    expect(third! - second!).toBeGreaterThanOrEqual(75);
    await until("the success logged", () =>
      lines.some((line) => line.msg === "task scale-in protection on (jobs running)"),
    );
    expect(agent.bodies()).toEqual([ON, ON, ON]);
  });

  it("survives an unreachable agent and a hung request (timeout), and keeps the job path free of errors", async () => {
    const agent = await startAgent();
    const uri = agent.uri;
    await agent.close();
    const { lines, logger } = recordingLogger();
    const protection = createTaskProtection({ agentUri: uri, logger, retryMs: 1_000 });
    expect(() => protection.activeJobsChanged(1)).not.toThrow();
    await until("a warning", () => lines.some((line) => line.level === "warn"));
    expect(lines[0]?.msg).toBe(
      `could not set ECS task scale-in protection at ${uri}/task-protection/v1/state`,
    );
    await protection.close();

    const { agent: hanging, protection: slow, lines: slowLines } = await setup({ timeoutMs: 100 });
    hanging.replies.push("hang");
    slow.activeJobsChanged(1);
    await until("the retry after the timeout", () => hanging.requests.length === 2);
    expect(String((slowLines[0]?.obj as { err: Error }).err.name)).toMatch(/TimeoutError|AbortError/);
  });

  it("clears the protection on close, and is quiet afterwards", async () => {
    const { agent, protection } = await setup({ idleGraceMs: 60_000 });
    protection.activeJobsChanged(1);
    await until("the protect request", () => agent.requests.length === 1);
    await protection.close();
    expect(agent.bodies()).toEqual([ON, OFF]);
    protection.activeJobsChanged(2);
    await sleep(100);
    expect(agent.bodies()).toEqual([ON, OFF]);
  });

  it("sends nothing for a node that never had a job", async () => {
    const { agent, protection } = await setup();
    protection.activeJobsChanged(0);
    await sleep(200);
    await protection.close();
    expect(agent.requests).toEqual([]);
  });
});

describe("an inference node on ECS", () => {
  it("protects its task once a job is queued, and clears the protection when it shuts down", async () => {
    const agent = await startAgent();
    cleanups.push(agent.close);
    const t = await startTestNode(
      { ecsAgentUri: agent.uri, keepAliveSeconds: 605 },
      { variant: "turbo", stopAfter: 6 },
    );
    try {
      expect(agent.requests).toHaveLength(0);
      // The balancer's idle timeout (600 s on the stack) stays below the node's.
      expect(t.node.server.keepAliveTimeout).toBe(605_000);
      const job = await t.client().tts.synthesize.mutate({ text: "Protected while it runs." });
      await until("the protection", () => agent.requests.length > 0);
      expect(agent.requests[0]).toMatchObject({
        method: "PUT",
        url: "/api/abc-123/task-protection/v1/state",
        body: { ProtectionEnabled: true },
      });
      expect((await settleJob(t, job.id)).status).toBe("done");
    } finally {
      await t.stop();
    }
    expect(agent.bodies().at(-1)).toEqual(OFF);
  });
});
