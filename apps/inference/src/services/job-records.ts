import type { Job } from "@tts/api";

import type { Logger } from "../logger";
import type { Collection, JobRecord } from "../storage/storage";
import { isOwner } from "./ownership";

/** How often a node renews the records of its queued and running jobs. */
export const HEARTBEAT_MS = 10_000;
/** A queued or running record not renewed for this long belongs to a node that stopped without finishing it. */
export const STALE_AFTER_MS = 4 * HEARTBEAT_MS;

/** This process as other nodes see it in job records. */
export interface NodeIdentity {
  id: string;
  /** Where other nodes reach it (known once it listens); null while unknown. */
  url: () => string | null;
}

/** Where a job lives, as seen from a node that does not run it. */
export type RecordedJob =
  /** Queued or running on `node`, which is alive as far as its record tells. */
  | { where: "peer"; job: Job; node: { id: string; url: string } }
  /**
   * Ended without audio, or given up on (its node stopped). `node` is the other node that ran it, if any: it
   * keeps the job in memory too, so deleting the job goes through it.
   */
  | { where: "record"; job: Job; node?: { id: string; url: string } };

const EMPTY = new Uint8Array(0);
const isActive = (job: Job) => job.status === "queued" || job.status === "running";

/**
 * The shared records of jobs that have no stored audio: written by the node that runs each job, read by every
 * node on the same storage. Writes for one job are applied in order and logged when they fail; a failed write
 * changes how other nodes see a job until the next one succeeds, never the job itself.
 */
export class JobRecords {
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly records: Collection<JobRecord>,
    private readonly self: NodeIdentity,
    private readonly ttlMs: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records (or renews) `owner`'s job as this node holds it now; resolves once written. */
  save(owner: string, job: Job): Promise<void> {
    const snapshot = { ...job };
    return this.enqueue(job.id, async () => {
      const record: JobRecord = {
        owner,
        job: snapshot,
        node: { id: this.self.id, url: this.self.url() },
        heartbeatAt: this.now(),
      };
      await this.records.put(job.id, EMPTY, record, { ttlMs: this.ttlMs });
    });
  }

  /** The job has its audio object now: the record goes. */
  remove(id: string): Promise<void> {
    return this.enqueue(id, async () => void (await this.records.delete(id)));
  }

  /** Every write queued so far has been applied (or failed and been logged). */
  async settled(): Promise<void> {
    await Promise.all(this.pending.values());
  }

  /** `owner`'s job as its record tells, from a node that does not run it; undefined when there is none. */
  async find(owner: string, id: string): Promise<RecordedJob | undefined> {
    const stored = await this.records.get(id);
    if (!stored || !isOwner(stored.meta, owner)) return undefined;
    return this.interpret(stored.meta);
  }

  /** `owner`'s recorded jobs (newest first), as `find` tells each. */
  async list(owner: string): Promise<Job[]> {
    const all = await this.records.list();
    return all
      .filter((stored) => isOwner(stored.meta, owner))
      .map((stored) => this.interpret(stored.meta).job);
  }

  private interpret({ job, node, heartbeatAt }: JobRecord): RecordedJob {
    const other = node.id !== this.self.id && node.url !== null ? { id: node.id, url: node.url } : undefined;
    if (!isActive(job)) return { where: "record", job, ...(other && { node: other }) };
    // This process's own records are of jobs it holds in memory, so one it does not hold came from before a
    // restart (same storage, new process id); a record not renewed in time is a node that went away.
    const fresh = this.now() - heartbeatAt <= STALE_AFTER_MS;
    if (other && fresh) return { where: "peer", job, node: other };
    return { where: "record", job: lostJob(job, heartbeatAt) };
  }

  /** Applies writes for one id in order; the returned promise rejects on failure, which is logged either way. */
  private enqueue(id: string, write: () => Promise<void>): Promise<void> {
    const result = (this.pending.get(id) ?? Promise.resolve()).then(write);
    const logged = result.catch((error: unknown) =>
      this.log.warn({ err: error, jobId: id }, "job record not written"),
    );
    this.pending.set(id, logged);
    void logged.then(() => {
      if (this.pending.get(id) === logged) this.pending.delete(id);
    });
    return result;
  }
}

/** A job whose node stopped before finishing it: failed, as far as anyone can tell. */
export function lostJob(job: Job, lastSeen: number): Job {
  return {
    ...job,
    status: "failed",
    finishedAt: job.finishedAt ?? lastSeen,
    error: {
      code: "INTERNAL_SERVER_ERROR",
      message: "The node running this job stopped before it finished; start it again.",
    },
  };
}
