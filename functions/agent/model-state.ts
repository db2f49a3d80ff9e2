/** Where one model stands on this node (published in the node status annotation). */
export interface ModelState {
  repo: string;
  revision: string;
  commit: string | null;
  state: 'ready' | 'failed' | 'skipped' | 'pending';
  /** bytes of the snapshot's files */
  bytes: number;
  files: number;
  /** stable code of the last failure, e.g. HUB_GATED_REPO, NO_SPACE */
  errorCode?: string;
  /** its message (never carries a token) */
  lastError?: string;
  /** true when retrying before a config change or the next interval is pointless (gated, 401, 404) */
  permanent?: boolean;
  /** ISO time of the last state change */
  updatedAt: string;
  readyAt?: string;
}
