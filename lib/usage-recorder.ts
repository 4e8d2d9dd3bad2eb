/**
 * Outcome recording for the gateway's runtime loop (07 §5 steps 5–6, 03 §5, §7). Every store write is a locked,
 * fsync'ed atomic rewrite (03 §4) that blocks the event loop for milliseconds, so a gateway that wrote `lastUsed`
 * after every success could not serve more than a few hundred requests a second. Successes are therefore
 * coalesced: they apply at once to the gateway's in-memory view (round robin stays exact) and reach the file in
 * one write at most every `intervalMs` (default 1 000 ms). Failures are written at once, together with the pending
 * successes that happened before them, so a cooldown is never cleared by an older success.
 * Bookkeeping that cannot be written (lock timeout, invalid store) is dropped with a warning, never written unlocked.
 */
import { failureLogLine, isRecordableReason, nextStatsAfterSuccess } from "./cooldown.ts";
import { JarvisError } from "./errors.ts";
import { log } from "./log.ts";
import { recordOutcome, type RuntimeContext } from "./runtime.ts";
import { markFailure, markSuccess, mutateStore } from "./store-write.ts";
import type { AuthStore, UsageStats } from "./store.ts";
import { dict, own } from "./dict.ts";

/** Where the runtime loop reports attempt outcomes of auth profiles. */
export interface OutcomeRecorder {
  success(profileId: string, providerId: string, now: number): Promise<void>;
  failure(profileId: string, providerId: string, reason: string, model: string | undefined, now: number): Promise<void>;
}

/** Writes every outcome at once (probes, tests, one-shot callers). */
export function immediateRecorder(rt: RuntimeContext): OutcomeRecorder {
  return {
    success: (id, p, now) => recordOutcome(rt, id, p, { ok: true }, now),
    failure: (id, p, reason, model, now) => recordOutcome(rt, id, p, { ok: false, reason, model }, now),
  };
}

interface PendingSuccess {
  providerId: string;
  at: number;
}

/** The gateway's recorder: successes coalesced, failures immediate (see the file comment). */
export class CoalescingRecorder implements OutcomeRecorder {
  private readonly pending = new Map<string, PendingSuccess>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastWrite = 0;
  /** Tail of the write chain: one store write at a time. */
  private chain: Promise<void> = Promise.resolve();
  private writing = false;
  /** Last write error, so a store that stays broken is reported once, not once per write (07 §1 "state"). */
  private lastError = "";

  constructor(
    private readonly rt: Pick<RuntimeContext, "storePath" | "config">,
    private readonly intervalMs = 1000,
  ) {}

  async success(profileId: string, providerId: string, now: number): Promise<void> {
    this.pending.set(profileId, { providerId, at: now });
    this.schedule();
  }

  // The provider is not needed here: markFailure reads it from the stored profile.
  failure(profileId: string, _providerId: string, reason: string, model: string | undefined, now: number): Promise<void> {
    if (!isRecordableReason(reason) && this.pending.size === 0) return Promise.resolve();
    return this.write({ profileId, reason, model, now });
  }

  /** `store` with the successes not yet written applied (`lastUsed`, cleared windows), for order resolution. */
  overlay(store: AuthStore): AuthStore {
    if (this.pending.size === 0) return store;
    const usageStats = Object.assign(dict<UsageStats>(), store.usageStats);
    for (const [id, s] of this.pending) if (own(store.profiles, id)) usageStats[id] = nextStatsAfterSuccess(usageStats[id], s.at);
    return { ...store, usageStats };
  }

  /** Write everything pending now (shutdown). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.write();
  }

  private schedule(): void {
    if (this.timer || this.writing) return;
    const wait = Math.max(0, this.lastWrite + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, wait);
  }

  private write(failure?: { profileId: string; reason: string; model?: string; now: number }): Promise<void> {
    const run = this.chain.then(async () => {
      const batch = [...this.pending].sort((a, b) => a[1].at - b[1].at);
      if (batch.length === 0 && !failure) return;
      this.writing = true;
      try {
        await mutateStore(this.rt.storePath, (doc) => {
          if (!doc) return { doc: undefined, result: undefined };
          let changed = false;
          for (const [id, s] of batch) changed = markSuccess(doc, id, s.providerId, s.at) || changed;
          if (failure) {
            const next = markFailure(doc, failure.profileId, failure.reason, failure.now, this.rt.config, failure.model);
            if (next) {
              changed = true;
              log.info(failureLogLine(failure.profileId, failure.reason, next));
            }
          }
          return { doc: changed ? doc : undefined, result: undefined };
        });
        this.lastError = "";
      } catch (e) {
        const msg = e instanceof JarvisError ? e.message : String(e);
        if (msg !== this.lastError) log.warn(`usage state not recorded: ${msg}`);
        this.lastError = msg;
      } finally {
        // Written or dropped: bookkeeping is never retried unlocked (03 §4). Newer successes stay pending.
        for (const [id, s] of batch) if (this.pending.get(id) === s) this.pending.delete(id);
        this.lastWrite = Date.now();
        this.writing = false;
        if (this.pending.size > 0) this.schedule();
      }
    });
    this.chain = run.catch(() => {});
    return run;
  }
}
