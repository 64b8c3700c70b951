/**
 * Per-group access: which member ids may join, and send to, which groups.
 *
 * A policy maps group names to the member ids allowed in them. A key is an exact
 * group name (`atc/sector-xyz`) or a prefix ending in `*` (`atc/*`); the most
 * specific key that matches a group decides (an exact name, else the longest prefix);
 * a group no key matches is open to every member. A list may contain `*` (anyone).
 *
 * Every member enforces the policy on the total order itself: a join or a message of a
 * member not allowed in the group is skipped by everyone at the same position, so a
 * member that bypasses its own checks still cannot get in. That needs every member to
 * hold the same policy: the endpoint makes its digest part of the network's identity,
 * so endpoints with different policies refuse each other at the handshake.
 */

interface Rule {
  readonly key: string;
  readonly prefix: string;
  readonly wildcard: boolean;
  readonly anyone: boolean;
  readonly ids: ReadonlySet<string>;
}

/** A validated policy; `GroupAccess.open` allows everything. */
export class GroupAccess {
  static readonly open = new GroupAccess([]);

  private constructor(private readonly rules: readonly Rule[]) {}

  /**
   * @throws Error naming the bad key or value (callers turn it into an OptionError).
   */
  static from(policy: Readonly<Record<string, readonly string[]>>): GroupAccess {
    if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) throw new Error('groupAccess must be an object of group name → member ids');
    const rules: Rule[] = [];
    for (const [key, ids] of Object.entries(policy)) {
      if (key.length === 0) throw new Error('groupAccess: an empty group name');
      const star = key.indexOf('*');
      if (star !== -1 && star !== key.length - 1) throw new Error(`groupAccess: ${JSON.stringify(key)} may hold '*' only at its end`);
      if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string' && x.length > 0)) {
        throw new Error(`groupAccess[${JSON.stringify(key)}] must be an array of member ids`);
      }
      const wildcard = star !== -1;
      rules.push({ key, prefix: wildcard ? key.slice(0, -1) : key, wildcard, anyone: ids.includes('*'), ids: new Set(ids) });
    }
    // Most specific first: exact names, then longer prefixes.
    rules.sort((a, b) => Number(a.wildcard) - Number(b.wildcard) || b.prefix.length - a.prefix.length);
    return new GroupAccess(rules);
  }

  /** True when member `id` may be in group `group`. */
  allowed(group: string, id: string): boolean {
    for (const r of this.rules) {
      if (r.wildcard ? group.startsWith(r.prefix) : group === r.key) return r.anyone || r.ids.has(id);
    }
    return true;
  }

  /** True when no rule restricts anything. */
  get isOpen(): boolean {
    return this.rules.length === 0;
  }

  /** A canonical text of the policy (sorted keys and ids), for its digest. */
  canonical(): string {
    const keys = [...this.rules].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return JSON.stringify(keys.map((r) => [r.key, [...r.ids].sort()]));
  }
}
