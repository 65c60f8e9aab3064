"use client";
// Admin: products and stock, written through the inventory service's admin API with the admin
// token (typed once, kept in this browser tab's sessionStorage); read back from the read model,
// which learns each change from its event. Adds products, edits prices, receives and writes
// off stock, and shows the price and stock history of each SKU.
import { Fragment, useCallback, useEffect, useState } from "react";
import { ApiError, admin, api, money, newKey, parseCents, time, type Product, type ProductHistory } from "@/lib/api";
import { forgetAdminToken, keepAdminToken, storedAdminToken } from "@/lib/admin-token";
import { useLive, usePolling } from "@/lib/live";
import LiveIndicator from "@/components/LiveIndicator";
import DataTable from "@/components/DataTable";

function explain(e: unknown): string {
  const err = e as ApiError;
  if (err.status === 401) return "The admin token was refused: type it again (make up prints it).";
  return err.message;
}

function TokenForm({ onToken }: { onToken: (t: string) => void }) {
  const [value, setValue] = useState("");
  return (
    <form
      className="card admin-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (value.trim()) onToken(value.trim());
      }}
    >
      <label>
        Admin token
        <input type="password" value={value} onChange={(e) => setValue(e.target.value)} autoComplete="off" data-testid="admin-token" />
      </label>
      <button type="submit" data-testid="admin-token-save">
        Use token
      </button>
      <p className="muted">Printed by <code>make up</code>, kept in .run/secrets/admin-token. It stays in this tab only.</p>
    </form>
  );
}

function AddProduct({ token, onDone }: { token: string; onDone: (msg: string) => void }) {
  const [sku, setSku] = useState("");
  const [name, setName] = useState("");
  const [price, setPrice] = useState("");
  const [currency, setCurrency] = useState("EUR");
  const [units, setUnits] = useState("0");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const cents = parseCents(price);
    const count = Number(units);
    if (cents === null) return setError("Price: an amount like 12.50");
    if (!Number.isInteger(count) || count < 0) return setError("Initial stock: a whole number, 0 or more");
    setBusy(true);
    setError(null);
    try {
      const code = sku.trim().toUpperCase();
      await admin.putProduct(token, code, { name: name.trim(), priceCents: cents, currency });
      if (count > 0) await admin.adjustStock(token, code, count, "initial stock", newKey());
      onDone(`${code} added${count > 0 ? ` with ${count} in stock` : ""}.`);
      setSku("");
      setName("");
      setPrice("");
      setUnits("0");
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card admin-form" onSubmit={submit} aria-labelledby="add-title">
      <h2 id="add-title" className="sr-only">
        Add a product
      </h2>
      <label>
        SKU
        <input value={sku} onChange={(e) => setSku(e.target.value)} placeholder="SKU-YELLOW-SCARF" required data-testid="new-sku" />
      </label>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} data-testid="new-name" />
      </label>
      <label>
        Price
        <input value={price} onChange={(e) => setPrice(e.target.value)} inputMode="decimal" placeholder="12.50" required data-testid="new-price" />
      </label>
      <label>
        Currency
        <input value={currency} onChange={(e) => setCurrency(e.target.value.toUpperCase())} maxLength={3} required />
      </label>
      <label>
        Initial stock
        <input type="number" min={0} value={units} onChange={(e) => setUnits(e.target.value)} data-testid="new-stock" />
      </label>
      <button type="submit" disabled={busy} data-testid="add-product">
        {busy ? "Adding…" : "Add product"}
      </button>
      {error && (
        <p className="error" role="alert" data-testid="add-error">
          {error}
        </p>
      )}
    </form>
  );
}

function History({ sku }: { sku: string }) {
  const [h, setH] = useState<ProductHistory | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    api
      .productHistory(sku)
      .then(setH)
      .catch((e: ApiError) => setError(e.message));
  }, [sku]);
  usePolling(load, 3000);
  if (error) return <p className="error">{error}</p>;
  if (!h) return <p className="muted">Loading…</p>;
  return (
    <div className="history" data-testid={`history-${sku}`}>
      <p>
        Prices:{" "}
        {h.prices.map((p) => `${money(p.priceCents, p.currency)} (rev. ${p.revision}, ${time(p.occurredAt)})`).join(" ← ")}
      </p>
      <table>
        <thead>
          <tr>
            <th>When</th>
            <th>Movement</th>
            <th>Units</th>
            <th>Reason / order</th>
          </tr>
        </thead>
        <tbody>
          {h.movements.map((m) => (
            <tr key={m.eventId} data-testid="movement">
              <td>{time(m.occurredAt)}</td>
              <td>{m.kind.toLowerCase().replace("_", " ")}</td>
              <td>{m.delta > 0 ? `+${m.delta}` : m.delta}</td>
              <td>{m.reason ?? (m.orderId ? `order ${m.orderId.slice(0, 8)}` : "")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {h.movements.length === 0 && <p className="muted">No stock movements yet.</p>}
    </div>
  );
}

function ProductRow({ p, token, onDone }: { p: Product; token: string; onDone: (msg: string) => void }) {
  const [price, setPrice] = useState((p.priceCents / 100).toFixed(2));
  const [delta, setDelta] = useState("");
  const [reason, setReason] = useState("restock");
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // one key per intended adjustment: a retried click applies once
  const [key, setKey] = useState(newKey());

  async function savePrice() {
    const cents = parseCents(price);
    if (cents === null) return setError("Price: an amount like 12.50");
    setError(null);
    try {
      await admin.putProduct(token, p.sku, { name: p.name, priceCents: cents, currency: p.currency });
      onDone(`${p.sku} now costs ${money(cents, p.currency)} for new orders.`);
    } catch (e) {
      setError(explain(e));
    }
  }

  async function adjust() {
    const n = Number(delta);
    if (!Number.isInteger(n) || n === 0) return setError("Units: a whole number, + received or − written off");
    setError(null);
    try {
      const r = await admin.adjustStock(token, p.sku, n, reason.trim() || "restock", key);
      setKey(newKey());
      setDelta("");
      onDone(`${p.sku}: ${n > 0 ? "received" : "wrote off"} ${Math.abs(n)}, ${r.available} available.`);
    } catch (e) {
      setError(explain(e));
    }
  }

  return (
    <Fragment>
      <tr data-testid={`admin-row-${p.sku}`}>
        <td>
          <strong>{p.name}</strong>
          <br />
          <span className="muted">{p.sku}</span>
        </td>
        <td>
          <div className="admin-row-actions">
            <input value={price} onChange={(e) => setPrice(e.target.value)} aria-label={`Price of ${p.sku}`} data-testid={`price-${p.sku}`} />
            <button type="button" className="secondary" onClick={savePrice} data-testid={`save-price-${p.sku}`}>
              Save price
            </button>
          </div>
        </td>
        <td data-testid={`levels-${p.sku}`}>
          {p.available} available · {p.reserved} reserved · {p.onHand} on hand
        </td>
        <td>
          <div className="admin-row-actions">
            <input type="number" value={delta} onChange={(e) => setDelta(e.target.value)} placeholder="+10 / −2" aria-label={`Units for ${p.sku}`} data-testid={`delta-${p.sku}`} />
            <input value={reason} onChange={(e) => setReason(e.target.value)} aria-label={`Reason for ${p.sku}`} maxLength={200} />
            <button type="button" className="secondary" onClick={adjust} data-testid={`adjust-${p.sku}`}>
              Apply
            </button>
            <button type="button" className="secondary" onClick={() => setOpen(!open)} aria-expanded={open} data-testid={`history-toggle-${p.sku}`}>
              {open ? "Hide history" : "History"}
            </button>
          </div>
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
        </td>
      </tr>
      {open && (
        <tr>
          <td colSpan={4}>
            <History sku={p.sku} />
          </td>
        </tr>
      )}
    </Fragment>
  );
}

export default function Admin() {
  const [token, setToken] = useState<string | null>(null);
  const [products, setProducts] = useState<Product[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => setToken(storedAdminToken()), []);
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
    if (m.type === "product" || (m.type === "event" && m.event.topic === "inventory.events")) load();
  }, load);
  usePolling(load, live === "live" ? 15000 : 3000);

  function saveToken(t: string) {
    keepAdminToken(t);
    setToken(t);
  }
  function forget() {
    forgetAdminToken();
    setToken(null);
  }
  function done(msg: string) {
    setNotice(`${msg} The store shows it once the read model has the event.`);
    load();
  }

  return (
    <>
      <div className="page-head">
        <h1>Admin: products and stock</h1>
        <LiveIndicator state={live} />
      </div>
      {!token ? (
        <TokenForm onToken={saveToken} />
      ) : (
        <>
          <p className="muted">
            Admin token in use for this tab.{" "}
            <button type="button" className="secondary" onClick={forget} data-testid="admin-forget">
              Forget it
            </button>
          </p>
          <AddProduct token={token} onDone={done} />
          <div aria-live="polite">
            {notice && (
              <p className="ok" data-testid="admin-notice">
                {notice}
              </p>
            )}
          </div>
          {error && (
            <p className="error" role="alert">
              The read model is unreachable: retrying… ({error})
            </p>
          )}
          <DataTable columns={["Product", "Price", "Stock", "Receive / write off"]}>
            {products?.map((p) => (
              <ProductRow key={`${p.sku}-${p.revision}`} p={p} token={token} onDone={done} />
            ))}
          </DataTable>
          {products && products.length === 0 && <p className="muted">No products yet: add the first one above.</p>}
        </>
      )}
    </>
  );
}
