import type { Logger } from "../logger";

/**
 * ECS task scale-in protection, from inside the task: while this node has jobs, ECS must not stop it for a
 * scale-in or a deployment (that would cut streams mid-sentence); once it is idle, it may. ECS gives every task's
 * containers `ECS_AGENT_URI`; `PUT ${ECS_AGENT_URI}/task-protection/v1/state` sets the protection for a number of
 * minutes (ECS clears it after that, so a node that dies protected does not block scale-in for long).
 *
 * Requests follow the busy/idle state, not each job: the first job protects the task at once, later jobs send
 * nothing, a long busy spell renews the protection before it lapses, and it is cleared only after the node has
 * stayed idle for a grace period (back-to-back jobs do not flap it). A failed request is logged and retried with
 * backoff; nothing here throws into the job path.
 */
export interface TaskProtection {
  /** The node's queued + running jobs, after every change (JobService's onActivity). */
  activeJobsChanged(count: number): void;
  /** Stops renewing and clears the protection if it is on (best effort; call after draining). */
  close(): Promise<void>;
}

export interface TaskProtectionOptions {
  /** `ECS_AGENT_URI`, set by ECS in each task. */
  agentUri: string;
  logger: Pick<Logger, "warn" | "info" | "debug">;
  fetch?: typeof fetch;
  /** Minutes one request protects the task (ECS accepts 1 to 2880). */
  expiresInMinutes?: number;
  /** When a busy node renews its protection; default two thirds of `expiresInMinutes`. */
  renewAfterMs?: number;
  /** How long the node stays protected after its last job ends before it clears the protection. */
  idleGraceMs?: number;
  /** First wait before retrying a failed request; it doubles with each failure, up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Per request. */
  timeoutMs?: number;
}

const DEFAULT_EXPIRES_IN_MINUTES = 15;
const DEFAULT_IDLE_GRACE_MS = 30_000;
const DEFAULT_RETRY_MS = 5_000;
const DEFAULT_MAX_RETRY_MS = 120_000;
const DEFAULT_TIMEOUT_MS = 5_000;
/** What the agent says went wrong is logged up to this many characters. */
const MAX_REASON_CHARS = 300;

/** The agent answers `{"protection": {...}}`, or `{"failure": {Arn, Reason, Detail}}` / `{"error": {Code, Message}}`. */
interface AgentReply {
  failure?: { Reason?: string; Detail?: string | null };
  error?: { Code?: string; Message?: string };
}

async function agentProblem(response: Response): Promise<string | undefined> {
  const text = await response.text();
  let reply: AgentReply | undefined;
  try {
    reply = JSON.parse(text) as AgentReply;
  } catch {
    reply = undefined;
  }
  const failure = reply?.failure
    ? [reply.failure.Reason, reply.failure.Detail].filter(Boolean).join(": ")
    : reply?.error
      ? [reply.error.Code, reply.error.Message].filter(Boolean).join(": ")
      : undefined;
  if (response.ok && failure === undefined) return undefined;
  return `HTTP ${response.status}${failure ? `, ${failure}` : text ? `, ${text}` : ""}`.slice(
    0,
    MAX_REASON_CHARS,
  );
}

export function createTaskProtection(options: TaskProtectionOptions): TaskProtection {
  const { logger } = options;
  const fetchImpl = options.fetch ?? fetch;
  const url = `${options.agentUri.replace(/\/+$/, "")}/task-protection/v1/state`;
  const expiresInMinutes = options.expiresInMinutes ?? DEFAULT_EXPIRES_IN_MINUTES;
  const renewAfterMs = options.renewAfterMs ?? (expiresInMinutes * 60_000 * 2) / 3;
  const idleGraceMs = options.idleGraceMs ?? DEFAULT_IDLE_GRACE_MS;
  const retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
  const maxRetryMs = options.maxRetryMs ?? DEFAULT_MAX_RETRY_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  let active = 0;
  let closed = false;
  /** When the protection this node set lapses (ECS clears it then); undefined while it is off. */
  let protectedUntil: number | undefined;
  /** When the current protection should be renewed. */
  let renewAt = 0;
  let idleSince: number | undefined;
  let failures = 0;
  let retryAt = 0;
  let inFlight: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const schedule = (delayMs: number) => {
    clearTimeout(timer);
    timer = setTimeout(reconcile, Math.max(0, delayMs)).unref();
  };

  /** One PUT at a time; whatever changed meanwhile is looked at again when it ends. */
  const put = (enabled: boolean): Promise<void> => {
    const sentAt = Date.now();
    const body = enabled
      ? { ProtectionEnabled: true, ExpiresInMinutes: expiresInMinutes }
      : { ProtectionEnabled: false };
    inFlight = (async () => {
      try {
        const response = await fetchImpl(url, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const problem = await agentProblem(response);
        if (problem) throw new Error(problem);
        const renewal = enabled && protectedUntil !== undefined;
        protectedUntil = enabled ? sentAt + expiresInMinutes * 60_000 : undefined;
        renewAt = sentAt + renewAfterMs;
        failures = 0;
        retryAt = 0;
        if (renewal) logger.debug({ expiresInMinutes }, "task scale-in protection renewed");
        else if (enabled) logger.info({ expiresInMinutes }, "task scale-in protection on (jobs running)");
        else logger.info("task scale-in protection off (idle)");
      } catch (error) {
        failures += 1;
        const retryInMs = Math.min(maxRetryMs, retryMs * 2 ** (failures - 1));
        retryAt = Date.now() + retryInMs;
        logger.warn(
          { err: error, protectionEnabled: enabled, attempt: failures, retryInMs: closed ? null : retryInMs },
          `could not ${enabled ? "set" : "clear"} ECS task scale-in protection at ${url}`,
        );
      } finally {
        inFlight = undefined;
      }
      if (!closed) reconcile();
    })();
    return inFlight;
  };

  function reconcile(): void {
    clearTimeout(timer);
    if (closed || inFlight) return;
    const now = Date.now();
    if (protectedUntil !== undefined && now >= protectedUntil) protectedUntil = undefined;
    if (now < retryAt) return schedule(retryAt - now);
    if (active > 0) {
      idleSince = undefined;
      if (protectedUntil === undefined || now >= renewAt) void put(true);
      else schedule(renewAt - now);
      return;
    }
    if (protectedUntil === undefined) return;
    idleSince ??= now;
    if (now - idleSince >= idleGraceMs) void put(false);
    else schedule(idleSince + idleGraceMs - now);
  }

  return {
    activeJobsChanged(count) {
      if (closed || !Number.isFinite(count)) return;
      const busy = count > 0;
      const changed = busy !== active > 0;
      active = Math.max(0, count);
      // Only a change between busy and idle needs a look; the timer covers renewals and the grace period.
      if (changed) reconcile();
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      await inFlight;
      if (protectedUntil !== undefined && Date.now() < protectedUntil) await put(false);
    },
  };
}
