import { createTRPCClient, TRPCClientError } from "@trpc/client";
import { EventSource } from "eventsource";

import {
  HTTP_STATUS,
  ServiceError,
  type AppRouter,
  type Job,
  type JobProgress,
  type ServiceErrorCode,
} from "@tts/api";
import { apiLinks } from "@tts/api/client";
import { mintPeerToken } from "@tts/api/session-token";

/**
 * Names the node a forwarded request is meant for. A node that is not that one answers 421 instead of acting
 * on it, so a misconfigured address (a load balancer's, say) can never bounce requests between nodes.
 */
export const NODE_HEADER = "x-tts-node";

export interface PeerNode {
  id: string;
  url: string;
}

/** The node running a job could not be reached (it stopped, or the network between the two failed). */
export class PeerUnreachableError extends Error {
  override name = "PeerUnreachableError";
}

/**
 * Calls to the node that runs a job, made by another node on behalf of the job's owner: with a peer token when
 * the nodes share a secret (they must, once callers have credentials), with nothing on a keyless cluster.
 */
export class PeerNodes {
  constructor(private readonly secret: string | undefined) {}

  /** Headers for a request to `node` acting for `owner`. */
  headers(node: PeerNode, owner: string): Record<string, string> {
    return {
      [NODE_HEADER]: node.id,
      ...(this.secret && { Authorization: `Bearer ${mintPeerToken(this.secret, owner)}` }),
    };
  }

  async cancel(node: PeerNode, owner: string, id: string): Promise<Job> {
    return this.call(node, () => this.client(node, owner).tts.cancel.mutate({ id }));
  }

  async delete(node: PeerNode, owner: string, id: string): Promise<void> {
    await this.call(node, () => this.client(node, owner).tts.delete.mutate({ id }));
  }

  /**
   * The job's progress as its node reports it, until it ends or `signal` aborts. Rejects with
   * PeerUnreachableError when the node cannot be reached or the connection to it drops.
   */
  async *progress(
    node: PeerNode,
    owner: string,
    id: string,
    signal: AbortSignal,
  ): AsyncIterable<JobProgress> {
    const events: JobProgress[] = [];
    let ended: { error?: unknown } | undefined;
    let wake: (() => void) | undefined;
    const finish = (outcome: { error?: unknown }) => {
      ended ??= outcome;
      wake?.();
    };
    const subscription = this.client(node, owner).tts.progress.subscribe(
      { id },
      {
        onData: (event) => {
          events.push(event);
          wake?.();
        },
        onError: (error) => finish({ error }),
        onComplete: () => finish({}),
        // The link reconnects by itself after a dropped connection; for a forwarded stream that means its node
        // went away, which the caller handles better than an endless retry.
        onConnectionStateChange: (state) => {
          if (state.state === "connecting" && state.error)
            finish({ error: new PeerUnreachableError(`${node.url}: ${state.error.message}`) });
        },
      },
    );
    const onAbort = () => finish({});
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        const event = events.shift();
        if (event) {
          yield event;
          if (event.type === "done" || event.type === "failed") return;
          continue;
        }
        if (ended) {
          if (ended.error) throw this.translate(node, ended.error);
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      subscription.unsubscribe();
    }
  }

  private client(node: PeerNode, owner: string) {
    return createTRPCClient<AppRouter>({
      links: apiLinks({ url: `${node.url}/trpc`, headers: () => this.headers(node, owner), EventSource }),
    });
  }

  private async call<T>(node: PeerNode, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw this.translate(node, error);
    }
  }

  /**
   * The peer's answer about the job (not found, too late, ...) as the caller's ServiceError. Anything else, a
   * refused peer token (the nodes' secrets differ) and a misdirected request included, is a node this one
   * cannot use: unreachable.
   */
  private translate(node: PeerNode, error: unknown): Error {
    if (error instanceof PeerUnreachableError) return error;
    if (error instanceof TRPCClientError) {
      const { code, httpStatus } = ((error as TRPCClientError<AppRouter>).data ?? {}) as {
        code?: string;
        httpStatus?: number;
      };
      const relayed = code !== "INTERNAL_SERVER_ERROR" && code !== "UNAUTHORIZED" && httpStatus !== 421;
      if (code && code in HTTP_STATUS && relayed)
        return new ServiceError(code as ServiceErrorCode, error.message);
    }
    return new PeerUnreachableError(`${node.url}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
