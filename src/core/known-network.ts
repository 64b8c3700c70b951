/**
 * What an endpoint that is not a member knows of a running network: the latest view a
 * member of it described, and which members of that view are proven gone.
 *
 * Intuition: without persistence, a restarted process cannot know it was a member; a
 * starting endpoint that *has* heard of a network knows more. While fewer than a
 * majority of that network's last known view are proven gone, the network may still
 * decide views (a majority of the view decides the next one), so this endpoint must
 * wait to join it and never help found a second one. A member is proven gone when
 * its address refuses connections (nothing listens there) or a different incarnation
 * answers there (the process restarted, or it was excluded and came back); a member
 * that is only silent may be paused or cut off, and proves nothing.
 */
import { majority } from './quorum.js';
import { memberKey, sameMember } from './types.js';
import type { EndpointView, MemberRef } from './types.js';

export class KnownNetwork {
  private viewValue: EndpointView | null = null;
  /** Keys of members of `view` proven gone. */
  private readonly gone = new Set<string>();

  /** The latest view heard of, or null. */
  get view(): EndpointView | null {
    return this.viewValue;
  }

  /** Members of the known view proven gone. */
  get goneCount(): number {
    return this.gone.size;
  }

  /** A member described `view`: it replaces what was known (gone members stay gone). */
  learn(view: EndpointView): void {
    if (view.members.length === 0) return;
    this.viewValue = view;
    const keys = new Set(view.members.map(memberKey));
    for (const k of this.gone) if (!keys.has(k)) this.gone.delete(k);
  }

  /** `from` answered at `addr`: if it is not the member of the known view there, that member is gone. */
  answered(addr: string, from: MemberRef): void {
    const m = this.viewValue?.members.find((x) => x.addr === addr);
    if (m !== undefined && !sameMember(m, from)) this.gone.add(memberKey(m));
  }

  /** Nothing listens at `addr`: the member of the known view there is gone. */
  refused(addr: string): void {
    const m = this.viewValue?.members.find((x) => x.addr === addr);
    if (m !== undefined) this.gone.add(memberKey(m));
  }

  /** No view is known, or a majority of the known view is gone: that network can decide nothing more. */
  get dead(): boolean {
    const v = this.viewValue;
    return v === null || this.gone.size >= majority(v.members.length);
  }

  /** The addresses of the known view's members (a gone member's address may hold its successor). */
  addresses(): string[] {
    return this.viewValue?.members.map((m) => m.addr) ?? [];
  }
}
