/**
 * Security of a state server started with `startServer`: the server usually runs in a process of
 * its own, and the ZAP authenticator must live in the process that owns the server socket, so
 * `startServer` takes the authenticator's policy (plain data) rather than a running one, carries
 * it across as JSON, and builds the authenticator there.
 */
import { InvalidArgumentError } from "../core/errors.js";
import { checkObject } from "../core/options.js";
import {
  Authenticator,
  type AuthenticatorOptions,
  type CurveKey,
  checkServerSecurity,
  keyToZ85,
  type ServerSecurity,
} from "../core/security/index.js";

/** Who may connect to a state server: the serialisable part of {@link AuthenticatorOptions}. */
export type AuthenticatorPolicy = Pick<AuthenticatorOptions, "curve" | "allow" | "deny">;

/**
 * The `security` option of `startServer`: the server's CURVE keys and who may connect, as a
 * policy (client keys, a certificate directory or `"any"`; address allow/deny lists). In-process
 * (`inProcess: true`) a running {@link Authenticator} may be given instead of a policy.
 */
export interface StartServerSecurity {
  curve?: { secretKey: CurveKey; publicKey?: CurveKey };
  /** The policy of the authenticator the server process builds (or, in-process only, one). */
  authenticator?: AuthenticatorPolicy | Authenticator;
}

/** What crosses to the server process: keys as Z85 text, iterables as arrays. */
export interface WireSecurity {
  curve?: { secretKey: string };
  authenticator?: {
    curve?: "any" | { keys?: string[]; directory?: string; watch?: boolean };
    allow?: string[];
    deny?: string[];
  };
}

/**
 * Checks the `security` option of `startServer`.
 * @throws {InvalidArgumentError} naming `security...`, its value and what is allowed.
 */
export function checkStartServerSecurity(value: unknown, inProcess: boolean): void {
  if (value === undefined) return;
  checkObject("security", value);
  const { curve, authenticator } = value as StartServerSecurity;
  checkServerSecurity("security", { curve });
  if (authenticator instanceof Authenticator) {
    if (!inProcess)
      throw new InvalidArgumentError(
        "security.authenticator",
        authenticator,
        "a policy ({ curve, allow, deny }): a running Authenticator cannot cross to the server's process (or use inProcess: true)",
      );
    return;
  }
  checkObject("security.authenticator", authenticator);
  if (authenticator === undefined) return;
  try {
    // The Authenticator's own check is the one place its options are validated; building one
    // does not start it.
    new Authenticator(policyOf(authenticator)).close();
  } catch (error) {
    if (error instanceof InvalidArgumentError)
      throw new InvalidArgumentError(
        `security.authenticator.${error.option.replace(/^options\./, "")}`,
        error.value,
        error.allowed,
        { cause: error },
      );
    throw error;
  }
}

function policyOf(policy: AuthenticatorPolicy): AuthenticatorOptions {
  const out: AuthenticatorOptions = {};
  if (policy.curve !== undefined) out.curve = policy.curve;
  if (policy.allow !== undefined) out.allow = policy.allow;
  if (policy.deny !== undefined) out.deny = policy.deny;
  return out;
}

/** The option as JSON-safe data. Check it with {@link checkStartServerSecurity} first. */
export function toWire(security: StartServerSecurity | undefined): WireSecurity | undefined {
  if (security === undefined) return undefined;
  const out: WireSecurity = {};
  if (security.curve) out.curve = { secretKey: keyToZ85(security.curve.secretKey) };
  const auth = security.authenticator;
  if (auth !== undefined && !(auth instanceof Authenticator)) {
    const policy: NonNullable<WireSecurity["authenticator"]> = {};
    const curve = auth.curve;
    if (curve === "any") policy.curve = "any";
    else if (curve !== undefined) {
      policy.curve = {};
      if (curve.keys !== undefined) policy.curve.keys = [...curve.keys].map(keyToZ85);
      if (curve.directory !== undefined) policy.curve.directory = curve.directory;
      if (curve.watch !== undefined) policy.curve.watch = curve.watch;
    }
    if (auth.allow !== undefined) policy.allow = [...auth.allow];
    if (auth.deny !== undefined) policy.deny = [...auth.deny];
    out.authenticator = policy;
  }
  return out;
}

/**
 * The {@link ServerSecurity} of the process that owns the server socket, with the authenticator
 * it built and started (the caller closes it after the server), or none.
 */
export async function fromWire(
  wire: WireSecurity | undefined,
): Promise<{ security: ServerSecurity | undefined; authenticator: Authenticator | undefined }> {
  if (wire === undefined) return { security: undefined, authenticator: undefined };
  const security: ServerSecurity = {};
  if (wire.curve) security.curve = { secretKey: wire.curve.secretKey };
  let authenticator: Authenticator | undefined;
  if (wire.authenticator) {
    authenticator = new Authenticator(policyOf(wire.authenticator));
    try {
      await authenticator.start();
    } catch (error) {
      await authenticator.close();
      throw error;
    }
    security.authenticator = authenticator;
  }
  return { security, authenticator };
}
