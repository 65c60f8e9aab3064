"use client";
// Storefront: whatever products exist, with live stock, a cart, "Place order", and a
// "simulate" control (demo mode) to watch compensation and the DLQ happen. When the shop is
// overloaded (429 with Retry-After, docs/overload.md) it says so, counts down and tries again
// by itself with the same Idempotency-Key, a few times at most.
import Link from "next/link";
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, api, money, newKey, type Product, type Simulate } from "@/lib/api";
import { useLive, usePolling } from "@/lib/live";
import LiveIndicator from "@/components/LiveIndicator";

/** How many times a busy answer (429) is retried by itself before the customer is asked to. */
const AUTO_RETRIES = 3;

export default function Store() {
  const [products, setProducts] = useState<Product[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [cart, setCart] = useState<Record<string, number>>({});
  const [customer, setCustomer] = useState("c-1001");
  const [placing, setPlacing] = useState(false);
  const [placed, setPlaced] = useState<{ orderId: string } | null>(null);
  const [placeError, setPlaceError] = useState<string | null>(null);
  const [simulate, setSimulate] = useState<Simulate>("none");
  // While the shop is busy: the order being retried (its key stays the same) and the countdown.
  const [busy, setBusy] = useState<{ seconds: number; tries: number } | null>(null);
  const pending = useRef<{ key: string; lines: [string, number][]; customer: string; simulate: Simulate } | null>(null);

  const load = useCallback(() => {
    api
      .catalog()
      .then((p) => {
        setProducts(p);
        setError(null);
      })
      .catch((e: ApiError) => setError(e.message));
  }, []);
  const live = useLive((m) => {
    if ((m.type === "event" && m.event.topic === "inventory.events") || m.type === "product") load();
  }, load);
  usePolling(load, live === "live" ? 15000 : 3000);

  const lines = Object.entries(cart).filter(([, q]) => q > 0);
  const total = lines.reduce((sum, [sku, q]) => sum + (products?.find((p) => p.sku === sku)?.priceCents ?? 0) * q, 0);

  async function submit(tries: number) {
    const p = pending.current;
    if (!p) return;
    setPlacing(true);
    setPlaceError(null);
    try {
      const r = await api.placeOrder(p.customer, p.lines.map(([sku, quantity]) => ({ sku, quantity })), p.key, p.simulate);
      pending.current = null;
      setBusy(null);
      setPlaced(r);
      setCart({});
    } catch (e) {
      const err = e as ApiError;
      if (err.status === 429 && tries < AUTO_RETRIES) {
        setBusy({ seconds: err.retryAfter ?? 5, tries: tries + 1 });
      } else {
        pending.current = null;
        setBusy(null);
        setPlaceError(err.status === 429 ? `The shop is busy: try again in ${err.retryAfter ?? 5} s.` : err.message);
      }
    } finally {
      setPlacing(false);
    }
  }

  function place() {
    pending.current = { key: newKey(), lines, customer, simulate };
    setPlaced(null);
    void submit(0);
  }

  function cancelRetry() {
    pending.current = null;
    setBusy(null);
  }

  // The countdown of a busy answer; at zero the same order (same key) is sent again.
  useEffect(() => {
    if (!busy) return;
    if (busy.seconds <= 0) {
      void submit(busy.tries);
      return;
    }
    const t = setTimeout(() => setBusy({ ...busy, seconds: busy.seconds - 1 }), 1000);
    return () => clearTimeout(t);
    // only busy drives the countdown; submit reads the order from the ref
  }, [busy]);

  return (
    <>
      <div className="page-head">
        <h1>Store</h1>
        <LiveIndicator state={live} />
      </div>
      {error && (
        <p className="error" role="alert">
          The read model is unreachable: retrying… ({error})
        </p>
      )}
      {!products && !error && <p className="muted">Loading the catalog…</p>}
      {products && products.length === 0 && <p className="muted">No products yet.</p>}
      <div className="store">
        <section aria-labelledby="catalog-title">
          <h2 id="catalog-title" className="sr-only">
            Catalog
          </h2>
          <ul className="products">
            {products?.map((p) => (
              <li key={p.sku} className="card product" data-testid={`product-${p.sku}`}>
                <h3>{p.name}</h3>
                <p className="sku">{p.sku}</p>
                <p className="price">{money(p.priceCents, p.currency)}</p>
                <p className={p.available > 0 ? "stock" : "stock out"} data-testid="stock">
                  {p.available > 0 ? `${p.available} in stock` : "Out of stock"}
                  {p.reserved > 0 && <span className="muted"> · {p.reserved} reserved</span>}
                </p>
                <label className="qty">
                  Quantity
                  <input
                    type="number"
                    min={0}
                    max={1000}
                    value={cart[p.sku] ?? 0}
                    onChange={(e) => setCart({ ...cart, [p.sku]: Math.max(0, Number(e.target.value) || 0) })}
                    data-testid={`qty-${p.sku}`}
                  />
                </label>
                <button type="button" className="secondary" onClick={() => setCart({ ...cart, [p.sku]: (cart[p.sku] ?? 0) + 1 })} data-testid={`add-${p.sku}`}>
                  Add to cart
                </button>
              </li>
            ))}
          </ul>
        </section>
        <aside className="card cart" aria-labelledby="cart-title">
          <h2 id="cart-title">Cart</h2>
          {lines.length === 0 ? (
            <p className="muted">Your cart is empty.</p>
          ) : (
            <ul>
              {lines.map(([sku, q]) => (
                <li key={sku}>
                  {q} × {sku}
                </li>
              ))}
            </ul>
          )}
          <p className="total">Total: {money(total)}</p>
          <label>
            Customer id
            <input value={customer} onChange={(e) => setCustomer(e.target.value)} data-testid="customer" />
          </label>
          <fieldset className="simulate">
            <legend>Simulate (demo)</legend>
            <label>
              <input type="radio" name="simulate" checked={simulate === "none"} onChange={() => setSimulate("none")} /> Nothing: a normal order
            </label>
            <label>
              <input type="radio" name="simulate" checked={simulate === "paymentDeclined"} onChange={() => setSimulate("paymentDeclined")} data-testid="simulate-declined" /> Payment declined (compensation)
            </label>
            <label>
              <input type="radio" name="simulate" checked={simulate === "gatewayDown"} onChange={() => setSimulate("gatewayDown")} data-testid="simulate-gateway-down" /> Payment gateway down (retries, DLQ, deadline)
            </label>
          </fieldset>
          <button type="button" onClick={place} disabled={placing || busy !== null || lines.length === 0 || !customer} data-testid="place-order">
            {placing ? "Placing…" : "Place order"}
          </button>
          <div aria-live="polite">
            {busy && busy.seconds > 0 && (
              <p className="error" role="status" data-testid="place-busy">
                The shop is busy right now: trying your order again in {busy.seconds} s (attempt {busy.tries + 1} of {AUTO_RETRIES + 1}).{" "}
                <button type="button" className="secondary" onClick={cancelRetry} data-testid="place-busy-cancel">
                  Cancel
                </button>
              </p>
            )}
            {placeError && (
              <p className="error" role="alert" data-testid="place-error">
                {placeError}
              </p>
            )}
            {placed && (
              <p className="ok" data-testid="placed">
                Order placed.{" "}
                <Link href={`/orders/view/?id=${placed.orderId}`} data-testid="placed-link">
                  Follow order {placed.orderId.slice(0, 8)} →
                </Link>
              </p>
            )}
          </div>
        </aside>
      </div>
    </>
  );
}
