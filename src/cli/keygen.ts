/** `zerokit keygen`: write a CURVE certificate pair and print its public key. */
import { Command } from "commander";

// The certificate code is imported when the command runs, not when its help is built.
const certificates = () => import("../core/security/certificates.js");

/** What `zerokit keygen` runs; resolves with the exit status. */
export type KeygenRunner = (io: { stdout(text: string): void; stderr(text: string): void }) => Promise<number>;

/** Builds `zerokit keygen [--dir DIR] [NAME]`; `onRun` receives its runner once parsed. */
export function keygenCommand(onRun: (runner: KeygenRunner) => void): Command {
  return new Command("keygen")
    .summary("write a CURVE certificate pair (pyzmq/czmq format) and print its public key")
    .description(
      "Write NAME.key (public: give it to peers) and NAME.key_secret (secret, mode 0600) into DIR, as pyzmq's zmq.auth.create_certificates does, and print the public key.",
    )
    .argument("[name]", "the certificates' name", "zerokit")
    .option("--dir <dir>", "where to write them (created if missing)", ".")
    .action((name: string, options: { dir: string }) => {
      onRun(async (io) => {
        if (name === "" || /[/\\]/.test(name) || name === "." || name === "..") {
          io.stderr(`zerokit keygen: ${JSON.stringify(name)} is not a file name`);
          return 2;
        }
        try {
          const { writeCertificates } = await certificates();
          const written = await writeCertificates(options.dir, name);
          io.stdout(written.publicKey);
          io.stderr(`wrote ${written.publicFile} (public) and ${written.secretFile} (secret)`);
          return 0;
        } catch (error) {
          io.stderr(`zerokit keygen: cannot write into ${options.dir}: ${(error as Error).message}`);
          return 1;
        }
      });
    });
}
