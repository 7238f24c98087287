/** The errors only zerokit/zio throws (the shared ones are in `src/core/errors.ts`). */
import { ZerokitError, type ZerokitErrorOptions } from "../core/errors.js";

/** A port or node is not online, or is online when the call needs it offline. */
export class PortStateError extends ZerokitError {
  override name = "PortStateError";
  constructor(message: string, options?: ZerokitErrorOptions) {
    super(message, "EPORTSTATE", options);
  }
}

/** The port's socket type cannot do this (a SUB port cannot send, a PUSH port cannot receive). */
export class NotSupportedError extends ZerokitError {
  override name = "NotSupportedError";
  constructor(message: string, options?: ZerokitErrorOptions) {
    super(message, "ENOTSUP", options);
  }
}

/** A flow's peer broke the flow protocol (an unexpected message, too much credit, a bad BOT). */
export class FlowError extends ZerokitError {
  override name = "FlowError";
  constructor(message: string, options?: ZerokitErrorOptions) {
    super(message, "EFLOW", options);
  }
}

/** The other side ended the flow (EOT): thrown by a put or get that was waiting. */
export class FlowEndedError extends ZerokitError {
  override name = "FlowEndedError";
  constructor(message = "the flow was ended by the other side", options?: ZerokitErrorOptions) {
    super(message, "EFLOWEND", options);
  }
}
