// Prometheus text format: each family once, its HELP and TYPE, then one sample per
// domain (or disk). Names follow Prometheus's conventions: base units (bytes, seconds)
// and `_total` on counters.
#include "toolstack/metrics_text.hpp"

#include <fmt/format.h>

#include <functional>
#include <iterator>

namespace domus::toolstack {

namespace {

class Writer {
public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                       type);
    }
    void sample(std::string_view name, std::string_view labels, double value) {
        if (labels.empty())
            fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
        else
            fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

std::string domain_labels(const DomainStats& domain) {
    return fmt::format(R"(domid="{}",name="{}")", domain.domid,
                       prometheus_label_value(domain.name));
}

// One family with one sample per domain.
void per_domain(Writer& w, const StatsSnapshot& stats, std::string_view name, std::string_view type,
                std::string_view help, const std::function<double(const DomainStats&)>& value) {
    w.family(name, type, help);
    for (const auto& domain : stats.domains)
        w.sample(name, domain_labels(domain), value(domain));
}

// One family with one sample per disk of every domain.
void per_vbd(Writer& w, const StatsSnapshot& stats, std::string_view name, std::string_view help,
             const std::function<std::uint64_t(const VbdCounters&)>& value) {
    w.family(name, "counter", help);
    for (const auto& domain : stats.domains)
        for (const auto& vbd : domain.vbds)
            w.sample(name,
                     fmt::format(R"({},vdev="{}")", domain_labels(domain),
                                 prometheus_label_value(vbd.vdev)),
                     double(value(vbd)));
}

// One family with one sample per network interface of every domain.
void per_vif(Writer& w, const StatsSnapshot& stats, std::string_view name, std::string_view help,
             const std::function<std::uint64_t(const VifCounters&)>& value) {
    w.family(name, "counter", help);
    for (const auto& domain : stats.domains)
        for (const auto& vif : domain.vifs)
            w.sample(name,
                     fmt::format(R"({},vif="{}")", domain_labels(domain),
                                 prometheus_label_value(vif.ifname)),
                     double(value(vif)));
}

}  // namespace

std::string prometheus_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string prometheus_text(const StatsSnapshot& stats, const DaemonHealth& health) {
    Writer w;
    w.family("domus_up", "gauge", "1 while domusd answers.");
    w.sample("domus_up", "", 1);
    w.family("domus_daemon_uptime_seconds", "gauge", "Seconds since domusd started.");
    w.sample("domus_daemon_uptime_seconds", "", health.uptime_seconds);
    w.family("domus_daemon_requests_total", "counter", "Toolstack requests domusd answered.");
    w.sample("domus_daemon_requests_total", "", double(health.requests));
    w.family("domus_daemon_request_errors_total", "counter",
             "Toolstack requests answered with an error.");
    w.sample("domus_daemon_request_errors_total", "", double(health.request_errors));
    w.family("domus_store_up", "gauge", "1 if the store (domus-xenstored) answered.");
    w.sample("domus_store_up", "", health.store_up ? 1 : 0);
    w.family("domus_store_restarts_total", "counter", "Times domusd restarted a dead store.");
    w.sample("domus_store_restarts_total", "", double(health.store_restarts));

    w.family("domus_host_cpus", "gauge", "Online host CPUs.");
    w.sample("domus_host_cpus", "", stats.host.nr_cpus);
    w.family("domus_host_memory_bytes", "gauge", "Host memory.");
    w.sample("domus_host_memory_bytes", "", double(stats.host.total_memory_kib) * 1024);
    w.family("domus_host_memory_free_bytes", "gauge", "Host memory free.");
    w.sample("domus_host_memory_free_bytes", "", double(stats.host.free_memory_kib) * 1024);

    w.family("domus_domain_info", "gauge", "Each domain, with its state (xl's letter) as a label.");
    for (const auto& domain : stats.domains)
        w.sample("domus_domain_info",
                 fmt::format(R"({},state="{}")", domain_labels(domain),
                             prometheus_label_value(domain.state)),
                 1);
    per_domain(w, stats, "domus_domain_cpu_seconds_total", "counter",
               "CPU time of the domain (its monitor process: vCPUs and backends).",
               [](const DomainStats& d) { return d.cpu_seconds; });
    per_domain(w, stats, "domus_domain_uptime_seconds", "gauge",
               "Seconds since the domain started.",
               [](const DomainStats& d) { return d.uptime_seconds; });
    per_domain(w, stats, "domus_domain_memory_bytes", "gauge", "Memory the domain holds.",
               [](const DomainStats& d) { return double(d.memory_kib) * 1024; });
    per_domain(w, stats, "domus_domain_memory_max_bytes", "gauge",
               "The domain's memory ceiling (maxmem); 0 for no limit.",
               [](const DomainStats& d) { return double(d.max_memory_kib) * 1024; });
    per_domain(w, stats, "domus_domain_vcpus", "gauge", "Online vCPUs.",
               [](const DomainStats& d) { return double(d.vcpus); });
    per_domain(w, stats, "domus_domain_exits_total", "counter",
               "Exits of the domain's vCPUs to their monitor (hypercalls, port I/O).",
               [](const DomainStats& d) { return double(d.exits); });
    per_domain(w, stats, "domus_domain_hypercalls_total", "counter",
               "Hypercalls the domain made (each one an exit).",
               [](const DomainStats& d) { return double(d.hypercalls); });
    per_domain(w, stats, "domus_domain_upcalls_total", "counter",
               "Event upcalls injected into the domain's vCPUs.",
               [](const DomainStats& d) { return double(d.upcalls); });
    per_vbd(w, stats, "domus_domain_vbd_reads_total", "Read requests done by a virtual disk.",
            [](const VbdCounters& v) { return v.reads; });
    per_vbd(w, stats, "domus_domain_vbd_writes_total", "Write requests done by a virtual disk.",
            [](const VbdCounters& v) { return v.writes; });
    per_vbd(w, stats, "domus_domain_vbd_read_bytes_total", "Bytes read by a virtual disk.",
            [](const VbdCounters& v) { return v.read_bytes; });
    per_vbd(w, stats, "domus_domain_vbd_written_bytes_total", "Bytes written by a virtual disk.",
            [](const VbdCounters& v) { return v.write_bytes; });
    per_vbd(w, stats, "domus_domain_vbd_errors_total",
            "Requests of a virtual disk refused or failed.",
            [](const VbdCounters& v) { return v.errors; });
    per_vif(w, stats, "domus_domain_net_transmit_packets_total", "Packets the domain sent.",
            [](const VifCounters& v) { return v.tx_packets; });
    per_vif(w, stats, "domus_domain_net_transmit_bytes_total", "Bytes the domain sent.",
            [](const VifCounters& v) { return v.tx_bytes; });
    per_vif(w, stats, "domus_domain_net_receive_packets_total", "Packets the domain received.",
            [](const VifCounters& v) { return v.rx_packets; });
    per_vif(w, stats, "domus_domain_net_receive_bytes_total", "Bytes the domain received.",
            [](const VifCounters& v) { return v.rx_bytes; });
    per_vif(w, stats, "domus_domain_net_errors_total", "Packets of an interface refused or failed.",
            [](const VifCounters& v) { return v.errors; });
    per_vif(w, stats, "domus_domain_net_dropped_total", "Packets the host could not take.",
            [](const VifCounters& v) { return v.dropped; });
    return w.take();
}

}  // namespace domus::toolstack
