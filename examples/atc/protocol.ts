/**
 * What the supervisor (`launch.ts`) and its controller processes (`controller.ts`) say
 * to each other over the IPC channel of `child_process.fork`, and the page's view of
 * the controllers. Kept in one place so both sides agree.
 */

/** A controller process as the supervisor knows it. */
export interface ControllerInfo {
  readonly id: string;
  readonly pid: number;
  /** The page: `http://127.0.0.1:PORT/`. */
  readonly url: string;
  /** Where its Cohort endpoint listens. */
  readonly address: string;
  readonly status: 'starting' | 'running' | 'paused' | 'crashed' | 'exited';
  /** Cut off from the other controllers' network (only with `--netns`). */
  readonly cut: boolean;
}

/** A request from a controller's page that only the supervisor can carry out. */
export type SupervisorAction =
  | { readonly action: 'add' }
  | { readonly action: 'crash'; readonly target: string }
  | { readonly action: 'pause'; readonly target: string }
  | { readonly action: 'resume'; readonly target: string }
  /** Isolate a controller's host from the others (only with `--netns`). */
  | { readonly action: 'cut'; readonly target: string }
  /** Remove every cut. */
  | { readonly action: 'heal' }
  /** Crash every controller at once (SIGKILL), then start them again on their data directories. */
  | { readonly action: 'restart-all' };

/** Controller → supervisor. */
export type ToSupervisor =
  | { readonly type: 'ready'; readonly id: string; readonly url: string; readonly address: string }
  | { readonly type: 'request'; readonly seq: number; readonly request: SupervisorAction };

/** Supervisor → controller. */
export type ToController =
  | { readonly type: 'directory'; readonly controllers: readonly ControllerInfo[]; readonly netns: boolean }
  | { readonly type: 'reply'; readonly seq: number; readonly ok: boolean; readonly message: string };
