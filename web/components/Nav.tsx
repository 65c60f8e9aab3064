"use client";
import Link from "next/link";
import { usePathname } from "next/navigation";

const links = [
  { href: "/", label: "Store" },
  { href: "/orders/", label: "Orders" },
  { href: "/events/", label: "Events" },
  { href: "/notifications/", label: "Notifications" },
  { href: "/dashboard/", label: "Dashboard" },
  { href: "/admin/", label: "Admin" },
];

export default function Nav() {
  const path = usePathname();
  return (
    <header className="topbar">
      <Link href="/" className="brand">
        Eventify <span>Commerce</span>
      </Link>
      <nav aria-label="Main">
        <ul>
          {links.map((l) => {
            const active = l.href === "/" ? path === "/" : path?.startsWith(l.href);
            return (
              <li key={l.href}>
                <Link href={l.href} aria-current={active ? "page" : undefined}>
                  {l.label}
                </Link>
              </li>
            );
          })}
        </ul>
      </nav>
    </header>
  );
}
