<?php
/*
 * SimpleSAMLphp's SAML2 library (Debian package simplesamlphp) building and signing a login Response,
 * as its IdP does (modules/saml IdP/SAML2.php): a \SAML2\Assertion signed with an RSA-SHA256
 * \RobRichards\XMLSecLibs\XMLSecurityKey (SHA-256 digest, exclusive c14n), wrapped in a \SAML2\Response,
 * serialised with ->toXML() each iteration.
 *
 * Usage: php sign_loop.php KEY_PEM CERT_PEM SECONDS MAX_COUNT SP_ENTITY ACS
 * Prints one JSON line: {"count", "seconds", "cpu_seconds", "bytes"}; CPU from getrusage (user + system).
 */
declare(strict_types=1);

$root = getenv('SIMPLESAMLPHP_DIR') ?: '/usr/share/simplesamlphp';
require $root . '/vendor/autoload.php';

use RobRichards\XMLSecLibs\XMLSecurityKey;
use SAML2\Assertion;
use SAML2\Constants;
use SAML2\Response;
use SAML2\XML\saml\Issuer;
use SAML2\XML\saml\NameID;
use SAML2\XML\saml\SubjectConfirmation;
use SAML2\XML\saml\SubjectConfirmationData;

[$_, $keyPath, $certPath, $seconds, $maxCount, $sp, $acs] = $argv;
$seconds = (float) $seconds;
$maxCount = (int) $maxCount;

// The key is loaded once, as a running IdP holds it.
$key = new XMLSecurityKey(XMLSecurityKey::RSA_SHA256, ['type' => 'private']);
$key->loadKey(file_get_contents($keyPath), false);
$certPem = file_get_contents($certPath);  // PEM: add509Cert() strips the armour itself
$idp = 'http://127.0.0.1/simplesamlphp-idp';

function respond(int $i, XMLSecurityKey $key, string $certPem, string $idp, string $sp, string $acs): string
{
    $now = time();
    $issuer = new Issuer();
    $issuer->setValue($idp);

    $assertion = new Assertion();
    $assertion->setId('_a' . $i . bin2hex(random_bytes(8)));
    $assertion->setIssueInstant($now);
    $assertion->setIssuer($issuer);
    $assertion->setNotBefore($now - 30);
    $assertion->setNotOnOrAfter($now + 300);
    $assertion->setValidAudiences([$sp]);
    $assertion->setAuthnInstant($now);
    $assertion->setSessionIndex('_s' . $i);
    $assertion->setAuthnContextClassRef(Constants::AC_PASSWORD_PROTECTED_TRANSPORT);
    $nameId = new NameID();
    $nameId->setFormat(Constants::NAMEID_EMAIL_ADDRESS);
    $nameId->setValue('pat.payer@example.com');
    $assertion->setNameId($nameId);
    $data = new SubjectConfirmationData();
    $data->setNotOnOrAfter($now + 300);
    $data->setRecipient($acs);
    $data->setInResponseTo('_req' . $i);
    $confirmation = new SubjectConfirmation();
    $confirmation->setMethod(Constants::CM_BEARER);
    $confirmation->setSubjectConfirmationData($data);
    $assertion->setSubjectConfirmation([$confirmation]);
    $assertion->setAttributes([
        'Email' => ['pat.payer@example.com'], 'LoginType' => ['1'], 'AccountNumber' => ['101Invoice'],
    ]);
    $assertion->setSignatureKey($key);
    $assertion->setCertificates([$certPem]);

    $response = new Response();
    $response->setId('_r' . $i . bin2hex(random_bytes(8)));
    $response->setIssueInstant($now);
    $response->setIssuer(clone $issuer);
    $response->setDestination($acs);
    $response->setInResponseTo('_req' . $i);
    $response->setAssertions([$assertion]);
    $xml = $response->toSignedXML();
    return $xml->ownerDocument->saveXML($xml);
}

function cpu(): float
{
    $u = getrusage();
    return $u['ru_utime.tv_sec'] + $u['ru_utime.tv_usec'] / 1e6 + $u['ru_stime.tv_sec'] + $u['ru_stime.tv_usec'] / 1e6;
}

$bytes = strlen(respond(-1, $key, $certPem, $idp, $sp, $acs));  // warm-up
if (getenv('PEER_PRINT_ONE')) {
    fwrite(STDERR, respond(0, $key, $certPem, $idp, $sp, $acs) . "\n");
}
$count = 0;
$started = microtime(true);
$cpuStarted = cpu();
while ($count < $maxCount && microtime(true) - $started < $seconds) {
    respond($count, $key, $certPem, $idp, $sp, $acs);
    $count++;
}
echo json_encode([
    'count' => $count, 'seconds' => microtime(true) - $started, 'cpu_seconds' => cpu() - $cpuStarted,
    'bytes' => $bytes, 'library' => 'simplesamlphp/saml2 (Debian simplesamlphp ' . trim((string) shell_exec(
        "dpkg-query -W -f='\${Version}' simplesamlphp 2>/dev/null")) . ')',
]), "\n";
