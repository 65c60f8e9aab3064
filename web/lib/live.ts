"use client";
// Live updates from the read model's WebSocket (/ws), with reconnect and backoff. While the
// socket is down, callers fall back to polling, so the page still changes without reload.
import { useCallback, useEffect, useRef, useState } from "react";
import type { OrderItem, Product, TimelineEvent } from "./api";

export type LiveMessage =
  | { type: "order"; order: OrderItem }
  | { type: "event"; event: TimelineEvent & { orderId: string } }
  | { type: "product"; product: Product };

export type LiveState = "connecting" | "live" | "reconnecting";

/** The read model sends this instead of updates a client was too slow to take: what is on
 * the page may be stale, so it is fetched again (onResync). */
const RESYNC = "resync";

export function useLive(onMessage: (m: LiveMessage) => void, onResync: () => void): LiveState {
  const [state, setState] = useState<LiveState>("connecting");
  const handler = useRef(onMessage);
  handler.current = onMessage;
  const resync = useRef(onResync);
  resync.current = onResync;

  useEffect(() => {
    let socket: WebSocket | null = null;
    let retry = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let closed = false;

    const connect = () => {
      const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
      socket = new WebSocket(`${proto}//${window.location.host}/ws`);
      socket.onopen = () => {
        retry = 0;
        setState("live");
      };
      socket.onmessage = (e) => {
        let message: LiveMessage | { type: typeof RESYNC };
        try {
          message = JSON.parse(e.data);
        } catch {
          return; /* not ours: ignore */
        }
        if (message.type === RESYNC) resync.current();
        else handler.current(message as LiveMessage);
      };
      socket.onclose = () => {
        if (closed) return;
        setState("reconnecting");
        timer = setTimeout(connect, Math.min(10000, 500 * 2 ** retry++));
      };
    };
    connect();
    return () => {
      closed = true;
      clearTimeout(timer);
      socket?.close();
    };
  }, []);
  return state;
}

/** Calls fn now and then every ms while the component is mounted (the fallback). */
export function usePolling(fn: () => void, ms: number, enabled = true) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!enabled) return;
    saved.current();
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms, enabled]);
}

/**
 * Keeps a component's answers in order. Each call starts a request and returns a check to
 * call on its answer: false when the answer of a request started later has already been
 * shown (the first page, slow with large values, answering after a browse asked later; the
 * list under an old filter), true otherwise. Answers are never dropped only for being
 * overtaken by a later start, so a poll slower than its interval still shows its answers.
 */
export function useInOrder(): () => () => boolean {
  const started = useRef(0);
  const shown = useRef(0);
  return useCallback(() => {
    const mine = ++started.current;
    return () => {
      if (mine < shown.current) return false;
      shown.current = mine;
      return true;
    };
  }, []);
}
