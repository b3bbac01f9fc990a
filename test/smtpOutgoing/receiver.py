"""test/smtpOutgoing/receiver.py: a scriptable SMTP receiver (Python aiosmtpd) for the
smtpOutgoing tests. One JSON argument:
  host, port                  where to listen (port 0: any; the port is printed)
  cert, key                   offer STARTTLS with this certificate (omitted: no STARTTLS)
  auth                        {"user": "pass"}: AUTH PLAIN/LOGIN required (over TLS)
  reject                      recipients answered 550 5.1.1 at RCPT
  defer                       recipients answered 451 4.3.0 at RCPT (for the first `deferTimes` tries; -1: always)
  dropData                    the first N DATA transfers are cut (the connection dropped before the reply)
  dataDelay                   seconds DATA waits before answering (to make connections overlap)
Events, one JSON object a line on stdout: {"ready": port}, {"conn": n, "open": k},
{"close": n, "open": k}, {"msg": {"from", "to", "data", "conn", "tls", "auth"}}.
"""
import asyncio, json, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

cfg = json.loads(sys.argv[1])
state = {"conns": 0, "open": 0, "defer": {}, "drop": cfg.get("dropData", 0)}

def emit(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        a = address.lower()
        if a in [x.lower() for x in cfg.get("reject", [])]:
            return "550 5.1.1 no such user here"
        if a in [x.lower() for x in cfg.get("defer", [])]:
            n = state["defer"].get(a, 0)
            times = cfg.get("deferTimes", -1)
            if times < 0 or n < times:
                state["defer"][a] = n + 1
                return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if state["drop"] > 0:
            state["drop"] -= 1
            server.transport.abort()
            return "421 dropped"
        d = cfg.get("dataDelay", 0)
        if d:
            await asyncio.sleep(d)
        emit({"msg": {"from": envelope.mail_from, "to": envelope.rcpt_tos, "data": envelope.original_content.decode("utf8", "replace"),
                      "conn": getattr(server, "conn_no", 0), "tls": server._tls_protocol is not None if hasattr(server, "_tls_protocol") else False,
                      "auth": session.authenticated, "helo": session.host_name}})
        return "250 2.0.0 queued"

def authenticator(server, session, envelope, mechanism, auth_data):
    users = cfg.get("auth") or {}
    if isinstance(auth_data, LoginPassword):
        u = auth_data.login.decode()
        if users.get(u) == auth_data.password.decode():
            return AuthResult(success=True)
    return AuthResult(success=False, handled=False)

class CountingSMTP(SMTP):
    def connection_made(self, transport):
        state["conns"] += 1
        state["open"] += 1
        self.conn_no = state["conns"]
        emit({"conn": self.conn_no, "open": state["open"]})
        super().connection_made(transport)

    def connection_lost(self, exc):
        state["open"] -= 1
        emit({"close": getattr(self, "conn_no", 0), "open": state["open"]})
        super().connection_lost(exc)

class Ctl(Controller):
    def factory(self):
        kw = dict(hostname="receiver.test", ident="test receiver")
        if cfg.get("cert"):
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(cfg["cert"], cfg["key"])
            kw["tls_context"] = ctx
        if cfg.get("auth"):
            kw["authenticator"] = authenticator
            kw["auth_required"] = True
            kw["auth_require_tls"] = True
        return CountingSMTP(self.handler, **kw)

ctl = Ctl(Handler(), hostname=cfg.get("host", "127.0.0.1"), port=cfg.get("port", 0))
ctl.start()
port = ctl.server.sockets[0].getsockname()[1]
emit({"ready": port})
try:
    sys.stdin.read()  # until the test closes stdin
finally:
    ctl.stop()
