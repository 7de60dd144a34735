import { runStep } from './step-main';

/**
 * A later step that uses the Vault token the way the vault CLI does (`vault token lookup`): VAULT_ADDR,
 * VAULT_NAMESPACE from the task's plain exports, VAULT_TOKEN mapped with `env:`. Prints lookup-self's policies.
 */
async function main(): Promise<number> {
  const { VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE } = process.env;
  if (!VAULT_ADDR || !VAULT_TOKEN) {
    console.error('missing variables: VAULT_ADDR and VAULT_TOKEN');
    return 2;
  }
  const response = await fetch(`${VAULT_ADDR}/v1/auth/token/lookup-self`, {
    headers: {
      'X-Vault-Token': VAULT_TOKEN,
      ...(VAULT_NAMESPACE ? { 'X-Vault-Namespace': VAULT_NAMESPACE } : {}),
    },
  });
  const body = (await response.json()) as {
    data?: { policies?: string[]; path?: string };
    errors?: string[];
  };
  if (!response.ok || !body.data) {
    console.error(`Vault refused: HTTP ${response.status} ${JSON.stringify(body.errors)}`);
    return 3;
  }
  console.log(JSON.stringify({ policies: body.data.policies, path: body.data.path }));
  return 0;
}

runStep(main);
