# Hornbeam API: multi-stage build, runs as the image's non-root 'app' user.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props Hornbeam.sln ./
COPY src/Hornbeam.Core/Hornbeam.Core.csproj src/Hornbeam.Core/
COPY src/Hornbeam.Api/Hornbeam.Api.csproj src/Hornbeam.Api/
# Without the embedded Garnet store (a Development convenience): it and its dependencies stay out of the image.
RUN dotnet restore src/Hornbeam.Api/Hornbeam.Api.csproj -p:HornbeamEmbeddedStore=false
COPY src/ src/
RUN dotnet publish src/Hornbeam.Api/Hornbeam.Api.csproj -c Release -o /app --no-restore -p:HornbeamEmbeddedStore=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app .
# Production needs a real Redis: set ConnectionStrings__Redis (host:6379, or Sentinels with ,serviceName=…). Without it the
# container logs what to set and exits with code 1; the embedded Garnet store runs only in Development (`dotnet run`).
ENV ASPNETCORE_URLS=http://+:8080 \
    ASPNETCORE_ENVIRONMENT=Production
# Orchestrators probe GET /health/live and GET /health/ready (the image has no curl for a HEALTHCHECK).
EXPOSE 8080
USER $APP_UID
ENTRYPOINT ["dotnet", "Hornbeam.Api.dll"]
