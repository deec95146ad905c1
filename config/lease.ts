/**
 * The scaler lease, defined once: a long-running Temporal workflow used as a lock so that exactly
 * one scaler acts on the pools (docs/decisions.md). Scalers acquire and renew it by update; it expires
 * on a workflow timer when its holder stops renewing.
 *
 * This module is imported by workflow code: only @temporalio/workflow's definitions, names and types.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';

/** Workflow type of the lease. */
export const SCALER_LEASE_WORKFLOW = 'scalerLease';

/** Workflow ID of the scaler lease of `app` (one per app: each app has its own pools). */
export function scalerLeaseId(app?: string): string {
  return app ? `tideway.${app}.scaler-lease` : 'tideway.scaler-lease';
}

export interface LeaseRequest {
  /** Who asks: unique per scaler process (host:pid:random). */
  holder: string;
  /** How long the lease holds without a renewal. */
  ttlMs: number;
}

export interface LeaseState {
  /** The current holder, if the lease is held and not expired. */
  holder: string | undefined;
  /** Workflow time (ms since epoch) the lease expires at. */
  expiresAt: number | undefined;
  /** How many times the lease changed hands (incl. first acquisition), across continue-as-new. */
  handovers: number;
}

export interface LeaseAnswer {
  granted: boolean;
  state: LeaseState;
}

/** Acquire or renew: granted when free, expired, or already held by the caller. */
export const acquireLeaseUpdate = defineUpdate<LeaseAnswer, [LeaseRequest]>('acquireLease');
/** Give the lease up (a scaler stopping cleanly), so a standby takes over without waiting for expiry. */
export const releaseLeaseUpdate = defineUpdate<LeaseAnswer, [{ holder: string }]>('releaseLease');
export const leaseStateQuery = defineQuery<LeaseState>('leaseState');
