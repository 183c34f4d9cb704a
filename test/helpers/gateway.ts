import { validateConfig, type ConfigInput } from '../../src/core/config.js';
import { Gateway, type GatewayOptions } from '../../src/gateway/server.js';

/**
 * Starts a gateway on a random loopback port with events off, overridable by `input`.
 * Callers stop it with `gateway.stop()`.
 */
export async function startGateway(
  input: Partial<ConfigInput> & Pick<ConfigInput, 'upstream'>,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const config = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    events: { sink: 'none' },
    logging: { level: 'silent' },
    ...input,
  });
  const gateway = new Gateway(config, options);
  await gateway.listen();
  return gateway;
}
