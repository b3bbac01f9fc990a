/**
 * http/host.ts: the HTTP service host (see http/types.ts): `httpProtocol(spec)` makes the
 * ProtocolModule an HTTP service's threads run.
 *
 * Exports: `httpProtocol`. Placeholder until the host is built: every session is refused.
 */
import type { ProtocolModule } from '../service/protocol.ts';
import type { HttpServiceSpec } from './types.ts';
import { PosternError } from '../errors.ts';

export function httpProtocol(spec: HttpServiceSpec): ProtocolModule {
  void spec;
  return {
    refusal: () => 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
    startSession() {
      throw new PosternError('NOT_IMPLEMENTED', 'the HTTP service host is not built yet');
    },
  };
}
