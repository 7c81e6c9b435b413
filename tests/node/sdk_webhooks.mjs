// Feeds signed webhooks to the official @wix/sdk's webhooks.process and prints what it and a
// handler of each event receive. Run with `node --input-type=module -e` in frontend/, so the
// SDK resolves from its node_modules. stdin: {"publicKey", "cases": [{"jwt", "type", "domain"}]}.
import { createClient } from '@wix/sdk';
import { AppStrategy } from '@wix/sdk/auth/wix-app-oauth';
import { EventDefinition } from '@wix/sdk-types';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { publicKey, cases } = JSON.parse(input);
const results = [];
for (const { jwt, type, domain } of cases) {
  const envelopes = [];
  const client = createClient({
    auth: AppStrategy({ appId: 'any', publicKey }),
    modules: { events: { on: EventDefinition(type, domain)() } },
  });
  client.events.on((envelope) => { envelopes.push(envelope); });
  const processed = await client.webhooks.process(jwt);
  results.push({ processed, envelope: envelopes[0] ?? null });
}
process.stdout.write(JSON.stringify(results));
