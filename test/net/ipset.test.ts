/**
 * test/net/ipset.test.ts: every IP set form, IPv4-mapped matching, normalization, bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpSet, parseIp, normalizeIp } from '../../src/net/ipset.ts';
import { isPosternError } from '../../src/errors.ts';
import ipaddr from 'ipaddr.js';
import { prng } from '../config/fixtures.ts';

// [set, address, expected]
const MEMBERSHIP: Array<[string, string, boolean]> = [
  // single IPv4
  ['10.0.0.1', '10.0.0.1', true],
  ['10.0.0.1', '10.0.0.2', false],
  ['10.0.0.1', '::ffff:10.0.0.1', true],
  ['10.0.0.1', '::FFFF:10.0.0.1', true],
  ['10.0.0.1', '::ffff:a00:1', true],
  ['10.0.0.1', '::10.0.0.1', false], // IPv4-compatible is not mapped
  // range
  ['10.0.0.1-10.0.0.20', '10.0.0.1', true],
  ['10.0.0.1-10.0.0.20', '10.0.0.20', true],
  ['10.0.0.1-10.0.0.20', '10.0.0.21', false],
  ['10.0.0.1-10.0.0.20', '10.0.0.0', false],
  ['10.0.0.1 - 10.0.0.20', '::ffff:10.0.0.7', true],
  ['10.255.255.250-11.0.0.5', '11.0.0.0', true],
  // CIDR
  ['10.0.0.0/8', '10.255.255.255', true],
  ['10.0.0.0/8', '11.0.0.0', false],
  ['10.1.2.3/8', '10.9.9.9', true], // host bits ignored
  ['10.0.0.0/8', '::ffff:10.1.2.3', true],
  ['0.0.0.0/0', '255.255.255.255', true],
  ['0.0.0.0/0', '::1', false],
  ['192.168.1.7/32', '192.168.1.7', true],
  ['192.168.1.7/32', '192.168.1.8', false],
  // addr/mask
  ['10.0.0.0/255.0.0.0', '10.200.1.1', true],
  ['10.0.0.0/255.0.0.0', '9.200.1.1', false],
  ['172.16.0.0/255.240.0.0', '172.31.255.255', true],
  ['172.16.0.0/255.240.0.0', '172.32.0.0', false],
  ['127.0.0.0/255.255.255.0', '127.0.0.3', true],
  // IPv6
  ['2001:db8::1', '2001:db8::1', true],
  ['2001:db8::1', '2001:DB8:0:0:0:0:0:1', true],
  ['2001:db8::1', '2001:db8::2', false],
  ['2001:db8::/32', '2001:db8:ffff::1', true],
  ['2001:db8::/32', '2001:db9::1', false],
  ['2001:db8::/ffff:ffff::', '2001:db8:1::1', true],
  ['2001:db8::10-2001:db8::20', '2001:db8::1a', true],
  ['2001:db8::10-2001:db8::20', '2001:db8::21', false],
  ['::1', '::1', true],
  ['::1', '127.0.0.1', false],
  ['fe80::/10', 'fe80::1%eth0', true],
  ['::/0', '2001:db8::1', true],
  // IPv6 sets over the mapped block match IPv4 addresses
  ['::ffff:10.0.0.0/104', '10.1.2.3', true],
  ['::ffff:10.0.0.0/104', '11.1.2.3', false],
  ['::ffff:10.0.0.1', '10.0.0.1', true],
  ['::10.0.0.1', '::a00:1', true],
  ['::10.0.0.1', '10.0.0.1', false],
  ['::/0', '10.0.0.1', true],
  ['2001:db8::/32', '10.0.0.1', false],
  // unparseable addresses are never members
  ['0.0.0.0/0', 'not-an-ip', false],
  ['0.0.0.0/0', '010.0.0.1', false],
  ['0.0.0.0/0', '', false],
];

test('IP set membership table', () => {
  for (const [set, ip, want] of MEMBERSHIP) {
    const s = parseIpSet(set);
    assert.equal(s.contains(ip), want, `${set} contains ${ip}`);
    const a = parseIp(ip);
    if (a !== null) assert.equal(s.containsAddr(a), want, `${set} containsAddr ${ip}`);
  }
});

test('equal sets have equal keys however written', () => {
  assert.equal(parseIpSet('10.0.0.0/8').key, parseIpSet('10.0.0.0/255.0.0.0').key);
  assert.equal(parseIpSet('10.0.0.0/8').key, parseIpSet('10.0.0.0-10.255.255.255').key);
  assert.equal(parseIpSet('10.0.0.0/8').key, parseIpSet('::ffff:10.0.0.0/104').key);
  assert.notEqual(parseIpSet('10.0.0.0/8').key, parseIpSet('10.0.0.0/9').key);
  assert.equal(parseIpSet(' 10.0.0.1 ').text, '10.0.0.1');
});

const BAD = [
  '', '   ', 'any', '10.0.0', '10.0.0.256', '010.0.0.1', '0x0a.0.0.1', '10.0.0.1/33', '10.0.0.1/-1',
  '10.0.0.1/255.0.255.0', '10.0.0.20-10.0.0.1', '10.0.0.1-', '-10.0.0.1', '10.0.0.1/', '::1/129',
  '2001:db8::/255.0.0.0', '10.0.0.0/ffff::', '1:2:3', 'fe80::1%eth0', '10.0.0.1-2001:db8::1x', 'localhost',
];

test('bad IP sets throw CONFIG_TYPE', () => {
  for (const text of BAD) {
    assert.throws(() => parseIpSet(text), (e: unknown) => isPosternError(e, 'CONFIG_TYPE'), JSON.stringify(text));
  }
  assert.throws(() => parseIpSet(42 as unknown as string), (e: unknown) => isPosternError(e, 'CONFIG_TYPE'));
});

test('normalizeIp', () => {
  const table: Array<[string, string]> = [
    ['10.1.2.3', '10.1.2.3'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::FFFF:10.1.2.3', '10.1.2.3'],
    ['::ffff:a01:203', '10.1.2.3'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::1', '::1'],
    ['::10.0.0.1', '::a00:1'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::1:2:3:4:5:6:7', '0:1:2:3:4:5:6:7'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
  ];
  for (const [ip, want] of table) assert.equal(normalizeIp(ip), want, ip);
  for (const ip of ['', 'x', '1.2.3', '::ffff:1.2.3', '1.2.3.4.5', '256.0.0.1', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9',
    '1::2:3:4:5:6:7:8', '12345::', ':1::', '1::2:', 'g::1', '::1.2.3.4.5', '1.2.3.4::', '::1.2.3', '1:2:3:4:5:6:7', '::%', '::1%',
    '%eth0', '1:2:3:4:5:1.2.3.4', '::ffff:010.1.2.3']) {
    assert.throws(() => normalizeIp(ip), (e: unknown) => isPosternError(e, 'CONFIG_TYPE'), ip);
    assert.equal(parseIp(ip), null, ip);
  }
});

test('a range may span IPv4 into the mapped block written as IPv6', () => {
  const s = parseIpSet('::ffff:10.0.0.0-10.0.0.255');
  assert.ok(s.contains('10.0.0.128'));
  assert.ok(!s.contains('10.0.1.0'));
});


test('property: the hand IPv6 parser agrees with ipaddr.js on random addresses and random junk', () => {
  const rnd = prng(42);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  for (let n = 0; n < 3000; n++) {
    const groups = Array.from({ length: 8 }, () => (rnd() < 0.4 ? 0 : Math.floor(rnd() * 65536)));
    if (groups.slice(0, 6).join() === '0,0,0,0,0,65535' || groups.slice(0, 6).every((g) => g === 0)) groups[0] = 1;
    const full = groups.map((g) => {
      const h = g.toString(16);
      return pick([h, h.padStart(4, '0'), h.toUpperCase()]);
    }).join(':');
    const compressed = new ipaddr.IPv6(groups).toString();
    for (const text of [full, compressed]) {
      const a = parseIp(text);
      assert.ok(a !== null, text);
      assert.equal(a.text, ipaddr.IPv6.parse(text).toRFC5952String(), text);
    }
  }
  const alphabet = '0123456789abcdefABCDEF::::..g';
  for (let n = 0; n < 20000; n++) {
    const len = 1 + Math.floor(rnd() * 20);
    let s = '';
    for (let i = 0; i < len; i++) s += pick([...alphabet]);
    if (!s.includes(':')) continue;
    if (/^::\d+\.\d+\.\d+\.\d+$/.test(s)) continue; // IPv4-compatible: ipaddr.js reads it as mapped
    const mine = parseIp(s);
    const last = s.slice(s.lastIndexOf(':') + 1);
    const octalTail = last.includes('.') && /(^|\.)0\d/.test(last); // we refuse leading zeros in a dotted quad
    const theirs = ipaddr.IPv6.isValid(s) && !octalTail ? ipaddr.IPv6.parse(s) : null;
    assert.equal(mine !== null, theirs !== null, JSON.stringify(s));
    if (mine !== null && theirs !== null && !theirs.isIPv4MappedAddress()) assert.equal(mine.text, theirs.toRFC5952String(), s);
  }
});
