using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;

namespace RingCore.Transport.Tests.Packaging;

/// <summary>
/// `dotnet pack` makes a package a user can adopt: right metadata, a symbols package, and an app that takes it
/// from a local folder feed serves over io_uring.
/// </summary>
public sealed class PackageTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("ringcore-pack-").FullName;

    [Fact]
    public async Task PackedPackageHasMetadataAndServesFromALocalFeed()
    {
        string repo = FindRepositoryRoot();
        string feed = Path.Combine(_work, "feed");
        string version = $"0.0.1-test.{DateTime.UtcNow:yyyyMMddHHmmss}";

        await RunAsync("dotnet", $"pack \"{Path.Combine(repo, "src", "RingCore.Transport")}\" -c Release -o \"{feed}\" -p:Version={version}", repo);

        string nupkg = Path.Combine(feed, $"RingCore.Transport.{version}.nupkg");
        Assert.True(File.Exists(nupkg), $"no {nupkg}");
        Assert.True(File.Exists(Path.ChangeExtension(nupkg, ".snupkg")), "no symbols package");
        using (ZipArchive zip = ZipFile.OpenRead(nupkg))
        {
            Assert.NotNull(zip.GetEntry("lib/net10.0/RingCore.Transport.dll"));
            Assert.NotNull(zip.GetEntry("lib/net10.0/RingCore.Transport.xml"));
            Assert.NotNull(zip.GetEntry("README.md"));
            ZipArchiveEntry nuspecEntry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
            using Stream stream = nuspecEntry.Open();
            XElement metadata = XDocument.Load(stream).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
            string Field(string name) => metadata.Elements().Single(e => e.Name.LocalName == name).Value;
            Assert.Equal("RingCore.Transport", Field("id"));
            Assert.Equal(version, Field("version"));
            Assert.Equal("MIT", Field("license"));
            Assert.Equal("README.md", Field("readme"));
            Assert.False(string.IsNullOrWhiteSpace(Field("authors")));
            Assert.Contains("io_uring", Field("description"));
            Assert.Contains(metadata.Elements(), e => e.Name.LocalName == "repository");
            Assert.Contains(metadata.Descendants(), e => e.Name.LocalName == "frameworkReference" && (string?)e.Attribute("name") == "Microsoft.AspNetCore.App");
        }

        string consumer = Path.Combine(_work, "consumer");
        Directory.CreateDirectory(consumer);
        File.WriteAllText(Path.Combine(consumer, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(consumer, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="RingCore.Transport" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(consumer, "Program.cs"), """
            using Microsoft.AspNetCore.Hosting.Server;
            using Microsoft.AspNetCore.Hosting.Server.Features;
            using RingCore.Transport;

            var builder = WebApplication.CreateSlimBuilder(args);
            builder.WebHost.UseRingCore(o => o.WhenUnavailable = RingCoreUnavailableBehavior.Throw);
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            app.MapGet("/", () => "from-package");
            await app.StartAsync();
            string url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var client = new HttpClient();
            Console.WriteLine("ANSWER " + await client.GetStringAsync(url));
            Console.WriteLine("RINGS " + Directory.GetFiles("/proc/self/fd").Count(f => (new FileInfo(f).LinkTarget ?? "").Contains("io_uring")));
            await app.StopAsync();
            """);

        string output = await RunAsync("dotnet", "run -c Release", consumer, ("NUGET_PACKAGES", Path.Combine(_work, "packages")));
        Assert.Contains("ANSWER from-package", output);
        Assert.Matches(@"RINGS [1-9]", output);
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RingCore.Transport.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("RingCore.Transport.sln not found above " + AppContext.BaseDirectory);
    }

    private static async Task<string> RunAsync(string file, string arguments, string workingDirectory, params (string Name, string Value)[] environment)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        // Keep the child's build out of this test run's MSBuild settings.
        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment.Remove("MSBUILD_EXE_PATH");
        start.Environment.Remove("MSBuildSDKsPath");
        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(4));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        string output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"{file} {arguments} exited with {process.ExitCode}:\n{output}");
        return output;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
