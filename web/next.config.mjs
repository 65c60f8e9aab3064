// Static export: nginx serves web/out on :3000 and proxies /api, /ws, /orders and
// /notifications to the services, so the browser only ever talks to one origin.
/** @type {import('next').NextConfig} */
const nextConfig = {
  output: "export",
  trailingSlash: true,
  images: { unoptimized: true },
  reactStrictMode: true,
  eslint: { ignoreDuringBuilds: true },
};
export default nextConfig;
