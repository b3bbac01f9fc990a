/**
 * protocols/ftp/commands-control.ts: the control-channel rows of the FTP command table: login
 * (USER, PASS, only the server admin, `admin` with the password of `postern ctl admin passwd`),
 * TLS (AUTH TLS, PBSZ, PROT; RFC 4217), FEAT and OPTS (RFC 2389), SYST, TYPE, MODE, STRU, NOOP,
 * HELP, STAT (without a path), ALLO, ABOR, QUIT, and the verbs recognised but not implemented (502).
 *
 * Exports: `CONTROL_ROWS` (verb → row), `serverStatus(session)`, `ADMIN_USER`. Throws nothing.
 */
import { gatedCheck } from '../../auth/login.ts';
import { stop, upgrade } from '../../session/line-session.ts';
import { DUMMY_HASH } from '../../store/directory.ts';
import { VirtualTree } from './tree.ts';
import { formatPath } from './paths.ts';
import { ftpReply, type Row, type S, type Session } from './session.ts';

const ANY: readonly S[] = ['login', 'password', 'ready'];
const READY: readonly S[] = ['ready'];
export const ADMIN_USER = 'admin';

function feat(s: Session): string {
  const tls = s.data.tlsAvailable ? ['AUTH TLS', 'PBSZ', 'PROT'] : [];
  return ['Features:', ...tls, 'EPRT', 'EPSV', 'MDTM', 'MLST type*;size*;modify*;perm*;', 'REST STREAM', 'SIZE', 'TVFS', 'UTF8', 'End'].join('\n');
}

async function pass(args: string, s: Session) {
  const d = s.data;
  if (s.state === 'ready') return ftpReply(230, 'Already logged in.');
  if (s.state !== 'password' || d.user === null) return ftpReply(503, 'Login with USER first.', 'command');
  const user = d.user;
  const store = s.ctx.store;
  // the login pipeline's gate and report around the admin check (auth/login.ts)
  const ok = await gatedCheck(s.ctx, user, { service: 'ftp' }, async () => {
    const hash = user === ADMIN_USER && store !== null ? await store.adminHash() : null;
    if (user === ADMIN_USER && hash === null) s.ctx.log.warn('ftp: admin login refused: no admin password is set (postern ctl admin passwd --password PW)');
    const match = (await s.ctx.runTask('verifyPassword', { password: args, hash: hash ?? DUMMY_HASH })) === true;
    return match && hash !== null && store !== null;
  });
  if (ok === 'unavailable') return ftpReply(421, 'Service not available; try again later.');
  d.user = null;
  if (ok !== true || store === null) return ftpReply(530, 'Login incorrect.', 'auth');
  d.tree?.close();
  d.tree = new VirtualTree(store);
  d.cwd = [];
  s.ctx.log.info({ user }, 'ftp: admin logged in');
  return { ...ftpReply(230, 'Login successful.'), state: 'ready' as const };
}

function auth(args: string, s: Session) {
  const mech = args.trim().toUpperCase();
  if (mech !== 'TLS' && mech !== 'TLS-C' && mech !== 'SSL') return ftpReply(504, 'Unknown AUTH type (use AUTH TLS).', 'command');
  if (s.secure) return ftpReply(503, 'Already using TLS.', 'command');
  if (!s.data.tlsAvailable) return ftpReply(534, 'TLS is not available on this listener (no certificate configured).');
  s.data.user = null;
  s.data.tree?.close();
  s.data.tree = null;
  return upgrade<S>('234 Proceed with negotiation.\r\n', { state: 'login' }); // RFC 4217 §4: a new security state means a new login
}

function prot(args: string, s: Session) {
  const level = args.trim().toUpperCase();
  if (!s.secure) return ftpReply(503, 'PROT needs AUTH TLS first.', 'command');
  if (!s.data.pbsz) return ftpReply(503, 'PROT needs PBSZ first.', 'command');
  if (level === 'P' || level === 'C') {
    s.data.prot = level;
    return ftpReply(200, `PROT now ${level === 'P' ? 'Private' : 'Clear'}.`);
  }
  if (level === 'S' || level === 'E') return ftpReply(536, 'Requested PROT level not supported by mechanism.');
  return ftpReply(504, 'PROT takes C or P.', 'command');
}

function type(args: string, s: Session) {
  const t = args.trim().toUpperCase().replace(/\s+/g, ' ');
  if (t === 'I' || t === 'L 8') {
    s.data.type = 'I';
    return ftpReply(200, 'Switching to Binary mode.');
  }
  if (t === 'A' || t === 'A N') {
    s.data.type = 'A';
    return ftpReply(200, 'Switching to ASCII mode (stored mail already has CRLF line ends: bytes are sent as stored).');
  }
  return ftpReply(504, 'TYPE takes A or I.', 'command');
}

/** STAT without an argument (STAT path is a listing: commands-files.ts). */
export function serverStatus(s: Session) {
  const d = s.data;
  return ftpReply(211, [
    'Postern FTP backup status:',
    `Connected from ${s.ctx.remoteAddress}`,
    s.state === 'ready' ? `Logged in as ${ADMIN_USER}, in ${formatPath(d.cwd)}` : 'Not logged in',
    `TYPE: ${d.type === 'I' ? 'BINARY' : 'ASCII'}, MODE: Stream, STRU: File`,
    `Control connection: ${s.secure ? 'TLS' : 'plain'}; data connections: ${d.prot === 'P' ? 'TLS' : 'plain'}`,
    d.transfer !== null ? 'A transfer is in progress' : 'No transfer in progress',
    'End of status',
  ].join('\n'));
}

const notImplemented = (what: string): Row => ({ states: READY, run: () => ftpReply(502, `Command not implemented: ${what}.`) });

export const CONTROL_ROWS: ReadonlyArray<[string, Row]> = [
  ['USER', {
    states: ANY,
    run: (args, s) => {
      const u = args.trim();
      if (u === '') return ftpReply(501, 'USER needs a user name.', 'command');
      s.data.user = u.slice(0, 64);
      s.data.tree?.close();
      s.data.tree = null;
      return { ...ftpReply(331, 'Please specify the password.'), state: 'password' as const };
    },
  }],
  ['PASS', { states: ANY, run: pass }],
  ['AUTH', { states: ANY, run: auth }],
  ['PBSZ', {
    states: ANY,
    run: (args, s) => {
      if (!s.secure) return ftpReply(503, 'PBSZ needs AUTH TLS first.', 'command');
      if (!/^\d+$/.test(args.trim())) return ftpReply(501, 'PBSZ takes a number (0).', 'command');
      s.data.pbsz = true;
      return ftpReply(200, 'PBSZ=0');
    },
  }],
  ['PROT', { states: ANY, run: prot }],
  ['FEAT', { states: ANY, run: (_a, s) => ftpReply(211, feat(s)) }],
  ['OPTS', {
    states: ANY,
    run: (args) => {
      const [opt = '', ...rest] = args.trim().split(/\s+/);
      const o = opt.toUpperCase();
      if (o === 'UTF8' || o === 'UTF-8') return ftpReply(200, 'Always in UTF8 mode.');
      if (o === 'MLST') return ftpReply(200, `MLST OPTS ${rest.join('') === '' ? '' : 'type;size;modify;perm;'}`);
      return ftpReply(501, 'Option not understood.', 'command');
    },
  }],
  ['SYST', { states: ANY, run: () => ftpReply(215, 'UNIX Type: L8') }],
  ['NOOP', { states: ANY, run: () => ftpReply(200, 'NOOP ok.') }],
  ['HELP', {
    states: ANY,
    run: () => ftpReply(214, ['The following commands are recognized.', 'ABOR ALLO AUTH CDUP CWD DELE EPRT EPSV FEAT HELP LIST MDTM MKD MLSD MLST MODE NLST NOOP',
      'OPTS PASS PASV PBSZ PORT PROT PWD QUIT REST RETR RMD SIZE STAT STOR STRU SYST TYPE USER', 'Help OK.'].join('\n')),
  }],
  ['QUIT', { states: ANY, run: () => stop<S>('221 Goodbye.\r\n') }],
  ['TYPE', { states: READY, run: type }],
  ['MODE', { states: READY, run: (a) => (a.trim().toUpperCase() === 'S' ? ftpReply(200, 'Mode set to S.') : ftpReply(504, 'Only MODE S (stream) is supported.', 'command')) }],
  ['STRU', { states: READY, run: (a) => (a.trim().toUpperCase() === 'F' ? ftpReply(200, 'Structure set to F.') : ftpReply(504, 'Only STRU F (file) is supported.', 'command')) }],
  ['ALLO', { states: READY, run: () => ftpReply(202, 'ALLO command ignored: no allocation needed.') }],
  ['ABOR', {
    states: READY,
    run: (_a, s) => {
      // the transfer itself was stopped as the line arrived (index.ts `urgent`) and said 426
      if (s.data.abortedTransfer) {
        s.data.abortedTransfer = false;
        return ftpReply(226, 'ABOR command successful.');
      }
      return ftpReply(225, 'No transfer to abort.');
    },
  }],
  ['RNFR', notImplemented('renaming (restore by uploading instead)')],
  ['RNTO', notImplemented('renaming (restore by uploading instead)')],
  ['APPE', notImplemented('appending to a file (stored messages never change)')],
  ['STOU', notImplemented('STOU (STOR a .eml file: the server names it by its UID)')],
  ['SITE', notImplemented('SITE commands')],
  ['MFMT', notImplemented('setting file times')],
  ['REIN', notImplemented('REIN')],
  ['SMNT', notImplemented('SMNT')],
  ['ACCT', notImplemented('ACCT (no accounts needed)')],
];
