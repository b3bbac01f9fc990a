/**
 * net/rules.ts: allow/deny rules of the three levels, compiled once, matched per connection.
 *
 * Semantics (seed 000 and the inventory §14). Within one level, for the source IP: among the
 * enabled deny rules whose IP set contains it, the one with the lowest `priority` value; among
 * the enabled allow rules that contain it, the one with the lowest `priority` value (ties inside
 * one kind: the first in config order). Only a deny matched → deny. Both matched → the lower
 * priority value wins, and on a tie DENY wins. Only an allow matched → allow, subject to that
 * rule's flow limits. Levels: the listener level decides if any of its enabled rules (allow or
 * deny) contains the IP; else the service level; else the global level; else the default
 * allow-any rule (`rule: null`, no flow limits beyond the listener's and the service's).
 *
 * Rule ids are stable for a given config: `global:allow:0`, `service:deny:2`,
 * `listener(127.0.0.1:110):allow:1`, the index being the rule's place in its configured list
 * (disabled rules keep their index and are compiled, so a bad IP set is still reported).
 *
 * Exports: `compileRules(levels)` → `RuleSet`; `compileLevel` and `ruleSetOf` (build a level
 * once and share its `CompiledRule` objects between listeners' rule sets, as admission does);
 * types `CompiledRule`, `CompiledLevel`, `RuleSource`, `RuleLevels`, `RuleMatch`, `RuleLevel`,
 * `RuleKind`. Allow rules without `flow` (UDP listeners) compile with `flow: null`.
 * Throws: PosternError('CONFIG_TYPE') for a bad IP set (details name the rule id), and from
 * `RuleSet.match` for an unparseable address string.
 */
import type { DenyRuleOptions, FlowLimits } from '../config/options.ts';
import { PosternError, isPosternError } from '../errors.ts';
import { parseIp, parseIpSet } from './ipset.ts';
import type { IpAddr, IpSet } from './ipset.ts';

export type RuleLevel = 'listener' | 'service' | 'global';
export type RuleKind = 'allow' | 'deny';

export interface CompiledRule {
  readonly id: string;
  readonly level: RuleLevel;
  /** The listener key, for listener-level rules only. */
  readonly listener?: string;
  readonly kind: RuleKind;
  /** The IP set as written. */
  readonly ipSet: string;
  readonly set: IpSet;
  readonly priority: number;
  readonly enable: boolean;
  /** Place in its configured list. */
  readonly index: number;
  /** Allow rules: their flow limits (null for UDP allow rules); deny rules: null. */
  readonly flow: FlowLimits | null;
}

/** Rules of one level as configured. Allow rules carry `flow` on TCP; UDP ones have none. */
export interface RuleSource {
  readonly allowRules: ReadonlyArray<DenyRuleOptions & { flow?: FlowLimits }>;
  readonly denyRules: readonly DenyRuleOptions[];
}

export interface RuleLevels {
  listener?: RuleSource & { key: string };
  service?: RuleSource;
  global?: RuleSource;
}

export interface CompiledLevel {
  readonly level: RuleLevel;
  readonly listener?: string;
  /** Every rule, allow then deny, each in config order (disabled ones included). */
  readonly rules: readonly CompiledRule[];
  /** Enabled rules of each kind, sorted by (priority, index): the first match is the best one. */
  readonly allow: readonly CompiledRule[];
  readonly deny: readonly CompiledRule[];
}

export interface RuleMatch {
  decision: 'allow' | 'deny';
  /** The deciding rule; null = the default allow-any rule. */
  rule: CompiledRule | null;
}

export interface RuleSet {
  /** Every compiled rule, listener level first, then service, then global. */
  readonly rules: readonly CompiledRule[];
  match(ip: string | IpAddr): RuleMatch;
}

const DEFAULT_ALLOW: RuleMatch = Object.freeze({ decision: 'allow', rule: null }) as RuleMatch;

function byPriority(a: CompiledRule, b: CompiledRule): number {
  return a.priority - b.priority || a.index - b.index;
}

function compileOne(
  level: RuleLevel, listener: string | undefined, kind: RuleKind, index: number,
  opt: DenyRuleOptions & { flow?: FlowLimits },
): CompiledRule {
  const prefix = level === 'listener' ? `listener(${listener ?? ''})` : level;
  const id = `${prefix}:${kind}:${index}`;
  let set: IpSet;
  try {
    set = parseIpSet(opt.ipSet);
  } catch (e) {
    if (isPosternError(e)) throw new PosternError(e.code, `rule ${id}: ${e.message}`, { ...e.details, rule: id });
    throw e;
  }
  const rule: CompiledRule = {
    id, level, kind, ipSet: set.text, set, priority: opt.priority, enable: opt.enable, index,
    flow: kind === 'allow' ? (opt.flow ?? null) : null,
    ...(listener !== undefined ? { listener } : {}),
  };
  return Object.freeze(rule);
}

/** Compile the rules of one level. `listener` is the listener key for the listener level. */
export function compileLevel(level: RuleLevel, source: RuleSource, listener?: string): CompiledLevel {
  const rules: CompiledRule[] = [];
  source.allowRules.forEach((r, i) => rules.push(compileOne(level, listener, 'allow', i, r)));
  source.denyRules.forEach((r, i) => rules.push(compileOne(level, listener, 'deny', i, r)));
  const allow = rules.filter((r) => r.enable && r.kind === 'allow').sort(byPriority);
  const deny = rules.filter((r) => r.enable && r.kind === 'deny').sort(byPriority);
  return Object.freeze({ level, rules, allow, deny, ...(listener !== undefined ? { listener } : {}) });
}

function firstMatch(rules: readonly CompiledRule[], addr: IpAddr): CompiledRule | null {
  for (const r of rules) if (r.set.containsAddr(addr)) return r;
  return null;
}

/** Decide within one level; null when no rule of the level contains the address. */
function matchLevel(level: CompiledLevel, addr: IpAddr): RuleMatch | null {
  const deny = firstMatch(level.deny, addr);
  const allow = firstMatch(level.allow, addr);
  if (deny !== null && (allow === null || deny.priority <= allow.priority)) return { decision: 'deny', rule: deny };
  if (allow !== null) return { decision: 'allow', rule: allow };
  return null;
}

/** A rule set from compiled levels, most specific first (listener, service, global). */
export function ruleSetOf(levels: readonly CompiledLevel[]): RuleSet {
  const ordered = [...levels];
  const rules = ordered.flatMap((l) => l.rules);
  return {
    rules,
    match(ip: string | IpAddr): RuleMatch {
      const addr = typeof ip === 'string' ? parseIp(ip) : ip;
      if (addr === null) throw new PosternError('CONFIG_TYPE', `not an IP address: ${JSON.stringify(ip)}`, { ip });
      for (const level of ordered) {
        const m = matchLevel(level, addr);
        if (m !== null) return m;
      }
      return DEFAULT_ALLOW;
    },
  };
}

/** Compile the levels given (any may be absent) into one rule set. */
export function compileRules(levels: RuleLevels): RuleSet {
  const out: CompiledLevel[] = [];
  if (levels.listener !== undefined) out.push(compileLevel('listener', levels.listener, levels.listener.key));
  if (levels.service !== undefined) out.push(compileLevel('service', levels.service));
  if (levels.global !== undefined) out.push(compileLevel('global', levels.global));
  return ruleSetOf(out);
}
