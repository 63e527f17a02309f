#!/usr/bin/env bash
# A DDS Security keystore in SROS2's layout for Augur and its peers (docs/security.md):
#   scripts/dds-keystore.sh KEYSTORE DOMAIN_ID ENCLAVE...
# makes KEYSTORE/public/{identity_ca,permissions_ca}.cert.pem (one CA, EC P-256),
# KEYSTORE/private/ca.key.pem, and for each enclave (e.g. /augur) the six files RustDDS
# and rmw_dds_common read from KEYSTORE/enclaves/<enclave>/: identity_ca.cert.pem,
# cert.pem, key.pem (subject CN=<enclave> without its leading /, other / as _), permissions_ca.cert.pem, governance.p7s,
# permissions.p7s. The governance encrypts discovery, liveliness, RTPS messages and
# data on every topic, with join access control; each enclave may publish and
# subscribe every topic on DOMAIN_ID. Needs the openssl CLI. Existing files are kept.
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,10p "$0"; exit 2; }
keystore="$1" domain="$2"
shift 2
mkdir -p "$keystore/public" "$keystore/private" "$keystore/enclaves"
ca_key="$keystore/private/ca.key.pem"
ca="$keystore/public/ca.cert.pem"
if [ ! -f "$ca" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=augur-keystore-ca" -keyout "$ca_key" -out "$ca" 2>/dev/null
  cp "$ca" "$keystore/public/identity_ca.cert.pem"
  cp "$ca" "$keystore/public/permissions_ca.cert.pem"
fi
sign() { openssl smime -sign -text -in "$1" -out "$2" -signer "$ca" -inkey "$ca_key"; }

governance="$keystore/enclaves/governance.xml"
if [ ! -f "$governance" ]; then
  cat >"$governance" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xsi:noNamespaceSchemaLocation="http://www.omg.org/spec/DDS-SECURITY/20170901/omg_shared_ca_governance.xsd">
  <domain_access_rules>
    <domain_rule>
      <domains><id>$domain</id></domains>
      <allow_unauthenticated_participants>false</allow_unauthenticated_participants>
      <enable_join_access_control>true</enable_join_access_control>
      <discovery_protection_kind>ENCRYPT</discovery_protection_kind>
      <liveliness_protection_kind>ENCRYPT</liveliness_protection_kind>
      <rtps_protection_kind>SIGN</rtps_protection_kind>
      <topic_access_rules>
        <topic_rule>
          <topic_expression>*</topic_expression>
          <enable_discovery_protection>true</enable_discovery_protection>
          <enable_liveliness_protection>true</enable_liveliness_protection>
          <enable_read_access_control>true</enable_read_access_control>
          <enable_write_access_control>true</enable_write_access_control>
          <metadata_protection_kind>ENCRYPT</metadata_protection_kind>
          <data_protection_kind>ENCRYPT</data_protection_kind>
        </topic_rule>
      </topic_access_rules>
    </domain_rule>
  </domain_access_rules>
</dds>
XML
  sign "$governance" "$keystore/enclaves/governance.p7s"
fi

for enclave in "$@"; do
  dir="$keystore/enclaves/${enclave#/}"
  [ -f "$dir/permissions.p7s" ] && continue
  mkdir -p "$dir"
  cn="${enclave#/}"
  cn="${cn//\//_}"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$dir/key.pem" -out "$dir/req.pem" 2>/dev/null
  openssl x509 -req -days 3650 -in "$dir/req.pem" -CA "$ca" -CAkey "$ca_key" \
    -set_serial "0x$(openssl rand -hex 8)" -out "$dir/cert.pem" 2>/dev/null
  rm "$dir/req.pem"
  cp "$ca" "$dir/identity_ca.cert.pem"
  cp "$ca" "$dir/permissions_ca.cert.pem"
  cp "$keystore/enclaves/governance.p7s" "$dir/governance.p7s"
  cat >"$dir/permissions.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xsi:noNamespaceSchemaLocation="http://www.omg.org/spec/DDS-Security/20170901/omg_shared_ca_permissions.xsd">
  <permissions>
    <grant name="$enclave">
      <subject_name>CN=$cn</subject_name>
      <validity>
        <not_before>2025-01-01T00:00:00</not_before>
        <not_after>2035-01-01T00:00:00</not_after>
      </validity>
      <allow_rule>
        <domains><id>$domain</id></domains>
        <publish><topics><topic>*</topic></topics></publish>
        <subscribe><topics><topic>*</topic></topics></subscribe>
      </allow_rule>
      <default>DENY</default>
    </grant>
  </permissions>
</dds>
XML
  sign "$dir/permissions.xml" "$dir/permissions.p7s"
done
