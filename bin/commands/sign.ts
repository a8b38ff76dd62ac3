import { hmacSigner } from "../../protocol/keys.ts";
import type { MessageSigner } from "../../protocol/keys.ts";
import { readKeyFile, signerForKey } from "../../protocol/key-file.ts";
import { canonicalMessage, parseUnsignedLine } from "../../protocol/line.ts";
import { ExitCode, optionalString, parseCommandArgs, UsageError } from "../cli.ts";
import type { Command } from "../cli.ts";

const USAGE = `Usage: homeward sign [--key-file <file>] [--line] "<metric> <value> <timestamp> <key_id>"

Prints the base64 signature of the message, like amproxy's \`client signature\`.

  --key-file   the device key file (ed25519 or hmac)
  --line       print the whole wire line instead of the signature alone

Without --key-file, the hmac secret is taken from KEY_PRIVATE, as amproxy does.`;

export const signCommand: Command = {
  name: "sign",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals, help } = parseCommandArgs(
      argv,
      { "key-file": { type: "string" }, line: { type: "boolean" } },
      true,
    );
    if (help) {
      io.stdout.write(`${USAGE}\n`);
      return ExitCode.Ok;
    }
    if (positionals.length !== 1)
      throw new UsageError('expected one quoted message: "<metric> <value> <timestamp> <key_id>"');
    const parsed = parseUnsignedLine(positionals[0] as string);
    if (!parsed.ok) {
      io.stderr.write(`homeward sign: ${parsed.reason}: ${parsed.detail}\n`);
      return ExitCode.Failure;
    }
    const keyFile = optionalString(values, "key-file");
    let signer: MessageSigner;
    if (keyFile) {
      const key = readKeyFile(keyFile);
      if (key.keyId !== parsed.line.keyId) {
        io.stderr.write(
          `homeward sign: the message's key_id "${parsed.line.keyId}" is not the key file's "${key.keyId}"\n`,
        );
        return ExitCode.Failure;
      }
      signer = signerForKey(key);
    } else if (io.env.KEY_PRIVATE) {
      signer = hmacSigner(io.env.KEY_PRIVATE);
    } else {
      throw new UsageError("give --key-file, or KEY_PRIVATE for an hmac secret");
    }
    const message = canonicalMessage(parsed.line);
    const signature = signer.sign(message);
    io.stdout.write(values.line === true ? `${message} ${signature}\n` : `${signature}\n`);
    return ExitCode.Ok;
  },
};
