"""An OAuth 2.0 client that knows only the authorization server's issuer: it reads the RFC 8414
metadata from the URL RFC 8414 3.1 derives from the issuer, fetches a token with the client
credentials grant (authlib, HTTP Basic), and calls a protected URL with it as a Bearer token.

usage: oauth_client.py ISSUER CA_FILE CLIENT_ID CLIENT_SECRET PROTECTED_URL
Prints one JSON object: the metadata's issuer and token endpoint, the token's type and lifetime,
and the protected URL's status and body."""
import json
import os
import sys
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session

issuer, ca, client_id, client_secret, protected = sys.argv[1:]
u = urlsplit(issuer)
well_known = f"{u.scheme}://{u.netloc}/.well-known/oauth-authorization-server{u.path}"
meta = requests.get(well_known, verify=ca, timeout=10).json()
# RFC 8414 3.3: the metadata is for this issuer, or it is not to be used.
assert meta["issuer"] == issuer, meta
assert "client_credentials" in meta["grant_types_supported"], meta
assert "client_secret_basic" in meta["token_endpoint_auth_methods_supported"], meta

client = OAuth2Session(
    client_id, client_secret, token_endpoint_auth_method="client_secret_basic"
)
token = client.fetch_token(
    meta["token_endpoint"], grant_type="client_credentials", verify=ca
)
# The protected upstream is plain HTTP on loopback.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
r = client.get(protected, timeout=10)
print(json.dumps({
    "issuer": meta["issuer"],
    "token_endpoint": meta["token_endpoint"],
    "token_type": token["token_type"],
    "expires_in": token.get("expires_in"),
    "access_token": token["access_token"],
    "status": r.status_code,
    "body": r.text,
}))
