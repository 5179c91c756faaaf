// A real OpenID Provider for the SSO test: the npm package oidc-provider (installed by the
// test's fixture into var/oidc-provider), with its development login and consent pages.
// Configuration from the environment: PORT, ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI and
// ACCOUNTS (JSON: login -> claims). Any password is accepted for a known login.
import Provider from 'oidc-provider';

const { PORT, ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } = process.env;
const accounts = JSON.parse(process.env.ACCOUNTS || '{}');

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
  },
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['studio-test-only-cookie-key'] },
});

provider.listen(Number(PORT), '127.0.0.1', () => {
  console.log(`oidc-provider ready at ${ISSUER}`);
});
