using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace RingCore.BenchmarkRunner.Execution;

/// <summary>The HTTPS scenario's server certificate: made for the session, for 127.0.0.1, never trusted by anything.</summary>
internal static class SelfSignedCertificate
{
    /// <summary>Writes a PKCS#12 file with an ECDSA P-256 certificate for CN=127.0.0.1; returns its password.</summary>
    public static string Write(string path)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false)); // server auth
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
        string password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, password));
        return password;
    }
}
