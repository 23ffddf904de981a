/**
 * Where the credentials come from, as the SDK's chain looks: given to the library, a profile named
 * (by what: the flag, AWS_PROFILE, a config file), the environment's keys, else the rest of the chain.
 * Never a value: it is what --debug and the messages about credentials say (see credentialsOrigin).
 */
export type CredentialsOrigin =
  | { kind: 'library' }
  | { kind: 'profile'; name: string; by: string }
  | { kind: 'env'; sessionToken: boolean }
  | { kind: 'chain' };

/** The source as --debug's connection line says it. */
export function credentialsSource(o: CredentialsOrigin): string {
  switch (o.kind) {
    case 'library':
      return 'given to the library call';
    case 'profile':
      return `from AWS profile '${o.name}' (${o.by})`;
    case 'env':
      return `from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY${o.sessionToken ? ' / AWS_SESSION_TOKEN' : ''}`;
    case 'chain':
      return "from the AWS chain (the 'default' profile, SSO, a role)";
  }
}

/** What a rejection of the credentials says to check. */
export function credentialsToCheck(o: CredentialsOrigin | undefined): string {
  switch (o?.kind) {
    case 'library':
      return 'the credentials given to the library call';
    case 'profile':
      return `the keys of AWS profile '${o.name}' (${o.by})`;
    case 'env':
      return 'AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)';
    case 'chain':
      return "the credentials the AWS chain found (the 'default' profile, SSO, a role), or set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or --profile";
    default:
      return 'AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or --profile';
  }
}

/** What to do when the chain found no credentials at all: where they go, for the profile named. */
export function noCredentialsFound(o: CredentialsOrigin | undefined): string {
  if (o?.kind !== 'profile')
    return 'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use --profile';
  const other =
    o.by === 'AWS_PROFILE'
      ? 'unset AWS_PROFILE'
      : o.by.startsWith('--')
        ? `name another ${o.by}`
        : 'name another profile';
  return `no AWS credentials found in profile '${o.name}' (named by ${o.by}): add its aws_access_key_id and aws_secret_access_key (~/.aws/credentials), or ${other}`;
}
